package api

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ticker-io/ticker/api/spec"
)

// The rules below are Redocly's "recommended" set as far as ticker's
// OpenAPI document can break them, written in Go so that `go test` holds the
// document to them without node: `npx @redocly/cli@2.77.0 lint --extends
// recommended api/spec/openapi.yaml` reported the same document clean when
// these rules were written.

// openAPIRule is one lint rule: check returns one problem per violation,
// each naming where.
type openAPIRule struct {
	name  string
	check func(doc map[string]any) []string
}

var openAPIRules = []openAPIRule{
	{"operation-operationId", func(doc map[string]any) (out []string) {
		seen := map[string]string{}
		for _, op := range operations(doc) {
			id, _ := op.obj["operationId"].(string)
			switch {
			case id == "":
				out = append(out, op.name+" has no operationId")
			case seen[id] != "":
				out = append(out, fmt.Sprintf("operationId %q is used by %s and %s", id, seen[id], op.name))
			default:
				seen[id] = op.name
			}
		}
		return out
	}},
	{"operation-2xx-response", func(doc map[string]any) (out []string) {
		for _, op := range operations(doc) {
			if !hasResponse(op.obj, "2") {
				out = append(out, op.name+" documents no 2XX response")
			}
		}
		return out
	}},
	{"operation-4xx-response", func(doc map[string]any) (out []string) {
		for _, op := range operations(doc) {
			if !hasResponse(op.obj, "4") {
				out = append(out, op.name+" documents no 4XX response")
			}
		}
		return out
	}},
	{"security-defined", func(doc map[string]any) (out []string) {
		schemes, _ := lookup(doc, "#/components/securitySchemes").(map[string]any)
		check := func(where string, sec any) {
			reqs, ok := sec.([]any)
			if !ok {
				out = append(out, where+": security is not a list of requirements")
				return
			}
			for _, r := range reqs {
				req, _ := r.(map[string]any)
				for name := range req {
					if schemes[name] == nil {
						out = append(out, fmt.Sprintf("%s: security scheme %q is not in components.securitySchemes", where, name))
					}
				}
			}
		}
		global, hasGlobal := doc["security"]
		if hasGlobal {
			check("the root", global)
		}
		for _, op := range operations(doc) {
			sec, ok := op.obj["security"]
			switch {
			case ok:
				check(op.name, sec)
			case !hasGlobal:
				out = append(out, op.name+" has no security, and the root none either (a public operation says security: [])")
			}
		}
		return out
	}},
	{"info-license", func(doc map[string]any) (out []string) {
		lic, _ := lookup(doc, "#/info/license").(map[string]any)
		switch {
		case lic == nil:
			out = append(out, "info has no license")
		case lic["name"] == nil:
			out = append(out, "info.license has no name")
		case lic["url"] == nil && lic["identifier"] == nil:
			out = append(out, "info.license has neither url nor identifier")
		}
		return out
	}},
	{"servers", func(doc map[string]any) (out []string) {
		servers, _ := doc["servers"].([]any)
		if len(servers) == 0 {
			return []string{"no servers"}
		}
		for i, s := range servers {
			url, _ := s.(map[string]any)["url"].(string)
			switch {
			case url == "":
				out = append(out, fmt.Sprintf("servers[%d] has no url", i))
			case regexp.MustCompile(`//(localhost|127\.0\.0\.1|([^/]*\.)?example\.com)([:/]|$)`).MatchString(url):
				out = append(out, fmt.Sprintf("servers[%d] points at %s, which is nobody's server", i, url))
			}
		}
		return out
	}},
	{"no-unused-components", func(doc map[string]any) (out []string) {
		refs := map[string]bool{}
		walkYAML(doc, func(m map[string]any) {
			if ref, ok := m["$ref"].(string); ok {
				refs[ref] = true
			}
		})
		used := map[string]bool{} // security schemes named by a requirement
		for _, sec := range append([]any{doc["security"]}, securities(doc)...) {
			reqs, _ := sec.([]any)
			for _, r := range reqs {
				req, _ := r.(map[string]any)
				for name := range req {
					used[name] = true
				}
			}
		}
		components, _ := doc["components"].(map[string]any)
		for kind, v := range components {
			entries, _ := v.(map[string]any)
			for name := range entries {
				ref := "#/components/" + kind + "/" + name
				if (kind == "securitySchemes" && !used[name]) || (kind != "securitySchemes" && !refs[ref]) {
					out = append(out, ref+" is never used")
				}
			}
		}
		sort.Strings(out)
		return out
	}},
	{"refs-resolve", func(doc map[string]any) (out []string) {
		walkYAML(doc, func(m map[string]any) {
			if ref, ok := m["$ref"].(string); ok && lookup(doc, ref) == nil {
				out = append(out, "$ref "+ref+" resolves to nothing")
			}
		})
		sort.Strings(out)
		return out
	}},
	{"schema-keywords", func(doc map[string]any) (out []string) {
		// a YAML flow mapping splits an unquoted comma ({description: a, b}
		// makes a key "b"): such keys are not JSON Schema keywords
		var visit func(where string, s any)
		visit = func(where string, s any) {
			m, ok := s.(map[string]any)
			if !ok {
				if s != nil {
					out = append(out, where+" is not a schema object")
				}
				return
			}
			for k, v := range m {
				if !schemaKeywords[k] && !strings.HasPrefix(k, "x-") {
					out = append(out, fmt.Sprintf("%s: %q is not a schema keyword", where, k))
				}
				switch k {
				case "properties", "patternProperties", "$defs":
					props, _ := v.(map[string]any)
					for name, p := range props {
						visit(where+"."+k+"."+name, p)
					}
				case "items", "not", "additionalProperties", "contains", "if", "then", "else":
					if _, isBool := v.(bool); !isBool {
						visit(where+"."+k, v)
					}
				case "allOf", "anyOf", "oneOf", "prefixItems":
					list, _ := v.([]any)
					for i, p := range list {
						visit(fmt.Sprintf("%s.%s[%d]", where, k, i), p)
					}
				}
			}
		}
		schemas, _ := lookup(doc, "#/components/schemas").(map[string]any)
		for name, s := range schemas {
			visit("components.schemas."+name, s)
		}
		walkPaths(doc, func(where string, m map[string]any) {
			if s, ok := m["schema"]; ok {
				visit(where+".schema", s)
			}
		})
		sort.Strings(out)
		return out
	}},
}

// schemaKeywords are the keywords of an OpenAPI 3.1 Schema Object (JSON
// Schema 2020-12 and OpenAPI's own).
var schemaKeywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`$ref $id $schema $comment $defs $anchor $dynamicRef $dynamicAnchor
		type enum const default title description example examples format deprecated readOnly writeOnly
		properties patternProperties additionalProperties propertyNames required minProperties maxProperties
		dependentRequired dependentSchemas unevaluatedProperties
		items prefixItems contains minContains maxContains minItems maxItems uniqueItems unevaluatedItems
		minimum maximum exclusiveMinimum exclusiveMaximum multipleOf minLength maxLength pattern
		contentMediaType contentEncoding contentSchema
		allOf anyOf oneOf not if then else discriminator xml externalDocs`) {
		schemaKeywords[k] = true
	}
}

// operation is one method of one path.
type operation struct {
	name string // "GET /api/quotes"
	obj  map[string]any
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operations returns every operation of doc, sorted by path and method.
func operations(doc map[string]any) []operation {
	paths, _ := doc["paths"].(map[string]any)
	var names []string
	for p := range paths {
		names = append(names, p)
	}
	sort.Strings(names)
	var out []operation
	for _, p := range names {
		item, _ := paths[p].(map[string]any)
		for _, m := range httpMethods {
			if op, ok := item[m].(map[string]any); ok {
				out = append(out, operation{strings.ToUpper(m) + " " + p, op})
			}
		}
	}
	return out
}

// securities returns each operation's security, where it has one.
func securities(doc map[string]any) []any {
	var out []any
	for _, op := range operations(doc) {
		if sec, ok := op.obj["security"]; ok {
			out = append(out, sec)
		}
	}
	return out
}

// hasResponse reports whether op documents a response whose code starts
// with class ("2": 200…299 or 2XX).
func hasResponse(op map[string]any, class string) bool {
	responses, _ := op["responses"].(map[string]any)
	for code := range responses {
		if len(code) == 3 && strings.HasPrefix(code, class) {
			return true
		}
	}
	return false
}

// walkYAML calls fn on every mapping in v, depth first.
func walkYAML(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(x)
		for _, e := range x {
			walkYAML(e, fn)
		}
	case []any:
		for _, e := range x {
			walkYAML(e, fn)
		}
	}
}

// walkPaths calls fn on every mapping under paths and components other
// than components.schemas (where a "schema" key is a media type's, a
// parameter's or a header's), with where it is.
func walkPaths(doc map[string]any, fn func(where string, m map[string]any)) {
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case map[string]any:
			fn(where, x)
			for k, e := range x {
				if k != "schema" && k != "example" && k != "examples" {
					walk(where+"."+k, e)
				}
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", where, i), e)
			}
		}
	}
	walk("paths", doc["paths"])
	components, _ := doc["components"].(map[string]any)
	for kind, v := range components {
		if kind != "schemas" {
			walk("components."+kind, v)
		}
	}
}

func parseOpenAPI(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return doc
}

// TestOpenAPILint holds api/spec/openapi.yaml to every rule: one subtest
// per rule, each problem named.
func TestOpenAPILint(t *testing.T) {
	doc := parseOpenAPI(t, spec.OpenAPI)
	if len(operations(doc)) == 0 {
		t.Fatal("openapi.yaml has no operations")
	}
	for _, r := range openAPIRules {
		t.Run(r.name, func(t *testing.T) {
			for _, p := range r.check(doc) {
				t.Errorf("openapi.yaml breaks %s: %s", r.name, p)
			}
		})
	}
}

// TestOpenAPILintCatches: each rule reports the violation it is for, in
// a copy of the document broken on purpose, and no rule reports the
// unbroken document.
func TestOpenAPILintCatches(t *testing.T) {
	tests := []struct {
		rule, mention string
		breakIt       func(doc map[string]any)
	}{
		{"operation-operationId", "GET /healthz has no operationId", func(d map[string]any) { delete(op(d, "/healthz"), "operationId") }},
		{"operation-operationId", `"getHealth" is used by GET /healthz and GET /readyz`, func(d map[string]any) { op(d, "/readyz")["operationId"] = "getHealth" }},
		{"operation-2xx-response", "GET /metrics documents no 2XX", func(d map[string]any) { delete(op(d, "/metrics")["responses"].(map[string]any), "200") }},
		{"operation-4xx-response", "GET /healthz documents no 4XX", func(d map[string]any) { delete(op(d, "/healthz")["responses"].(map[string]any), "431") }},
		{"security-defined", "GET /healthz has no security", func(d map[string]any) { delete(op(d, "/healthz"), "security") }},
		{"security-defined", `GET /api/symbols: security scheme "basic"`, func(d map[string]any) {
			op(d, "/api/symbols")["security"] = []any{map[string]any{"basic": []any{}}}
		}},
		{"info-license", "info has no license", func(d map[string]any) { delete(d["info"].(map[string]any), "license") }},
		{"info-license", "neither url nor identifier", func(d map[string]any) { delete(lookup(d, "#/info/license").(map[string]any), "url") }},
		{"servers", "no servers", func(d map[string]any) { delete(d, "servers") }},
		{"servers", "points at http://localhost:8080", func(d map[string]any) {
			d["servers"] = []any{map[string]any{"url": "http://localhost:8080"}}
		}},
		{"no-unused-components", "#/components/schemas/Orphan is never used", func(d map[string]any) {
			lookup(d, "#/components/schemas").(map[string]any)["Orphan"] = map[string]any{"type": "string"}
		}},
		{"refs-resolve", "$ref #/components/schemas/Nope resolves to nothing", func(d map[string]any) {
			lookup(d, "#/components/schemas/Quote/properties").(map[string]any)["bid"] = map[string]any{"$ref": "#/components/schemas/Nope"}
		}},
		{"schema-keywords", `"Unix seconds" is not a schema keyword`, func(d map[string]any) {
			lookup(d, "#/components/schemas/Bars/properties/bars/items/properties/time").(map[string]any)["Unix seconds"] = nil
		}},
	}
	for _, r := range openAPIRules {
		if p := r.check(parseOpenAPI(t, spec.OpenAPI)); len(p) > 0 {
			t.Fatalf("%s reports the unbroken document: %v", r.name, p)
		}
	}
	for _, tt := range tests {
		doc := parseOpenAPI(t, spec.OpenAPI)
		tt.breakIt(doc)
		var found []string
		for _, r := range openAPIRules {
			if r.name == tt.rule {
				found = r.check(doc)
			}
		}
		if !strings.Contains(strings.Join(found, "\n"), tt.mention) {
			t.Errorf("%s: broken on purpose, it reports %q; want a problem with %q", tt.rule, found, tt.mention)
		}
	}
}

// op returns the GET operation of path in doc.
func op(doc map[string]any, path string) map[string]any {
	return doc["paths"].(map[string]any)[path].(map[string]any)["get"].(map[string]any)
}
