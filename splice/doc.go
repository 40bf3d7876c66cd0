// Package splice codes permessage-deflate messages (RFC 7692, no context
// takeover) that are concatenations of entries shared by many messages: a
// window's per-symbol deltas, each subscriber's message holding its own
// subset of them in one order.
//
// Compressing every subscriber's message on its own costs a deflate per
// subscriber, most of it spent finding matches and building a Huffman code.
// Splice does that work once per window instead:
//
//   - each entry (a flat JSON object) is cut once into its structure (the
//     punctuation and keys between values) and its values;
//   - one Huffman code is built for the window (Window.Seal), from the
//     tokens of messages like the subscribers' and every byte the window's
//     entries hold, and its dynamic block header is written once;
//   - a message is then coded (Window.Append) by walking its entries:
//     a run of structure that occurred earlier in the same message becomes
//     a match back to it, extended into the value that follows as far as
//     the two values agree, and the rest are literals. The match distances
//     are this message's own, so no match crosses what the subscriber does
//     not receive, and every message decodes on its own with any inflater.
//
// Most of whole-message deflate's gain on such messages comes from those
// cross-entry matches (the repeated keys and the shared prefixes of
// timestamps), which is why they are kept here, where pieces compressed on
// their own could not keep them.
package splice
