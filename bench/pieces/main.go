// Command pieces estimates, on update messages captured from a running
// ticker, what a subscriber's message would cost on the wire if it were
// assembled from per-symbol pieces coded once per window — each piece
// LZ77-coded on its own (matches only inside the piece, as concatenation
// requires) and entropy-coded with one Huffman code shared by the whole
// message — against whole-message deflate as the server does it today
// (klauspost/compress level 1, no context takeover). It is the measurement
// behind bench/RESULTS.md's "shared-Huffman pieces: not kept".
//
//	go run . &                                                     # a server: 500 symbols, 20,000 changes/s
//	go run ./bench/pieces --url ws://127.0.0.1:8080/ws --k 20 --messages 200
//
// The piece estimate is optimistic: its Huffman code lengths are not
// limited to 15 bits, and the block header is costed at 4 bits per code
// length.
package main

import (
	"bytes"
	"container/heap"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/fasthttp/websocket"
	"github.com/klauspost/compress/flate"
)

func main() {
	url := flag.String("url", "ws://127.0.0.1:8080/ws", "a ticker's WebSocket endpoint (loopback)")
	k := flag.Int("k", 20, "symbols to subscribe to, picked at random among the synthetic feed's <prefix>0025 … <prefix>0499")
	n := flag.Int("messages", 200, "update messages to capture")
	prefix := flag.String("prefix", "SYM", "subscribe to symbols whose name starts with this")
	flag.Parse()
	if err := run(*url, *k, *n, *prefix); err != nil {
		fmt.Fprintln(os.Stderr, "pieces:", err)
		os.Exit(1)
	}
}

func run(url string, k, n int, prefix string) error {
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	// the synthetic feed names its symbols beyond the first 20 SYM0020 …
	r := rand.New(rand.NewPCG(1, 2))
	var syms []string
	for len(syms) < k {
		syms = append(syms, fmt.Sprintf("%q", fmt.Sprintf("%s%04d", prefix, 25+r.IntN(475))))
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","symbols":[`+strings.Join(syms, ",")+`]}`)); err != nil {
		return err
	}
	var msgs []string
	for len(msgs) < n {
		_, m, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if bytes.HasPrefix(m, []byte(`{"type":"update"`)) {
			msgs = append(msgs, string(m))
		}
	}
	var plain, whole, est, huffOnly int
	for _, m := range msgs {
		plain += len(m)
		whole += deflated(m, 1)
		huffOnly += deflated(m, flate.HuffmanOnly)
		est += piecesBytes(m)
	}
	fmt.Printf("%d update messages of %d subscribed symbols: plain %d B, whole-message deflate %d B, Huffman only %d B (%.2f×), pieces with in-piece LZ77 and a shared Huffman code %d B (%.2f×)\n",
		len(msgs), k, plain/len(msgs), whole/len(msgs), huffOnly/len(msgs), float64(huffOnly)/float64(whole), est/len(msgs), float64(est)/float64(whole))
	return nil
}

func deflated(m string, level int) int {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, level)
	w.Write([]byte(m))
	w.Flush()
	return b.Len() - 4
}

// piecesBytes splits an update into its head, one piece per quote and the
// tail, codes each piece alone and costs the whole with one Huffman code.
func piecesBytes(m string) int {
	i := strings.Index(m, `"quotes":[`) + len(`"quotes":[`)
	head, body := m[:i], m[i:len(m)-2]
	quotes := strings.Split(body, "},{")
	all := [][]tok{lz([]byte(head), 3)}
	for k, p := range quotes {
		if k > 0 {
			p = ",{" + p
		}
		if k < len(quotes)-1 {
			p += "}"
		}
		all = append(all, lz([]byte(p), 3))
	}
	all = append(all, lz([]byte("}]}"), 3))
	lf, df := map[int]int{256: 1}, map[int]int{}
	for _, ts := range all {
		for _, t := range ts {
			if t.length == 0 {
				lf[int(t.lit)]++
			} else {
				lf[257+code(lenBase, t.length)]++
				df[code(distBase, t.dist)]++
			}
		}
	}
	ll, dl := huffLens(lf), huffLens(df)
	bits := ll[256]
	for _, ts := range all {
		for _, t := range ts {
			if t.length == 0 {
				bits += ll[int(t.lit)]
				continue
			}
			c, d := code(lenBase, t.length), code(distBase, t.dist)
			bits += ll[257+c] + lenExtra[c] + dl[d] + distExtra[d]
		}
	}
	header := 3 + 14 + 4*19 + 4*(len(lf)+len(df))
	return (bits + header + 7) / 8
}

type tok struct {
	lit    byte
	length int // 0: literal
	dist   int
}

func lz(p []byte, minMatch int) []tok {
	var out []tok
	for i := 0; i < len(p); {
		bestL, bestD := 0, 0
		for j := 0; j < i; j++ {
			l := 0
			for i+l < len(p) && p[j+l] == p[i+l] && l < 258 {
				l++
			}
			if l > bestL {
				bestL, bestD = l, i-j
			}
		}
		if bestL >= minMatch {
			out = append(out, tok{length: bestL, dist: bestD})
			i += bestL
		} else {
			out = append(out, tok{lit: p[i]})
			i++
		}
	}
	return out
}

var lenBase = []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
var lenExtra = []int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
var distBase = []int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
var distExtra = []int{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}

func code(base []int, v int) int {
	c := 0
	for i, b := range base {
		if v >= b {
			c = i
		}
	}
	return c
}

type item struct{ w, id int }
type hp []item

func (h hp) Len() int            { return len(h) }
func (h hp) Less(i, j int) bool  { return h[i].w < h[j].w }
func (h hp) Swap(i, j int)       { h[i], h[j] = h[j], h[i] }
func (h *hp) Push(x interface{}) { *h = append(*h, x.(item)) }
func (h *hp) Pop() interface{}   { o := *h; x := o[len(o)-1]; *h = o[:len(o)-1]; return x }

// huffLens: code lengths (not length-limited; fine for an estimate)
func huffLens(freq map[int]int) map[int]int {
	lens := map[int]int{}
	if len(freq) == 1 {
		for k := range freq {
			lens[k] = 1
		}
		return lens
	}
	h := &hp{}
	parent := map[int]int{}
	next := 1 << 20
	for k, f := range freq {
		heap.Push(h, item{f, k})
	}
	for h.Len() > 1 {
		a, b := heap.Pop(h).(item), heap.Pop(h).(item)
		parent[a.id], parent[b.id] = next, next
		heap.Push(h, item{a.w + b.w, next})
		next++
	}
	for k := range freq {
		d := 0
		for x := k; ; d++ {
			p, ok := parent[x]
			if !ok {
				break
			}
			x = p
		}
		lens[k] = d
	}
	return lens
}
