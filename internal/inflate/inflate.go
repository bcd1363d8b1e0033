// Package inflate decodes a raw DEFLATE stream (RFC 1951) as it arrives.
//
// Go's compress/flate (and klauspost's) hand decoded bytes over only at the
// end of a block or when their window fills. A protocol peer using zlib may
// end a message in the middle of a block (zlib's own inflate decodes
// symbol by symbol), so a server reading with those readers waits for
// input the peer never sends. This reader returns every byte as soon as the
// bits that make it have arrived: a Read that has produced something
// returns rather than wait for more input.
package inflate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// windowSize is the largest distance a DEFLATE match may reach back.
const windowSize = 1 << 15

// ErrCorrupt is returned for a stream that breaks RFC 1951.
var ErrCorrupt = errors.New("inflate: corrupt DEFLATE stream")

// errWouldBlock stops a symbol that needs input not yet buffered once a
// Read has produced something.
var errWouldBlock = errors.New("inflate: would block")

// huffman is a canonical Huffman code (RFC 1951 section 3.2.2): how many
// codes of each length, and the symbols in code order.
type huffman struct {
	count  [16]uint16
	symbol []uint16
}

// build makes h from the code lengths of symbols 0..len(lengths)-1. An
// over-subscribed set of lengths is corrupt; an incomplete one is allowed
// (a decode that falls off it fails then).
func (h *huffman) build(lengths []uint8) error {
	h.count = [16]uint16{}
	for _, l := range lengths {
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	for l := 1; l < 16; l++ {
		left <<= 1
		left -= int(h.count[l])
		if left < 0 {
			return ErrCorrupt
		}
	}
	var offs [16]uint16
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	h.symbol = make([]uint16, len(lengths))
	for s, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = uint16(s)
			offs[l]++
		}
	}
	return nil
}

// Reader decodes a raw DEFLATE stream from a *bufio.Reader (whose Buffered
// count tells what can be read without waiting).
type Reader struct {
	src   *bufio.Reader
	bits  uint64 // input bits not yet consumed, the next one lowest
	nbits uint
	err   error

	window [windowSize]byte
	wpos   int   // next position to write in window
	total  int64 // bytes produced so far (matches may not reach before 0)

	state    int // stateHeader, stateStored, stateHuffman, stateDone
	final    bool
	stored   int // bytes left in a stored block
	copyLen  int // bytes left of a match being copied
	copyDist int
	lit      huffman
	dist     huffman
	fixed    bool
}

const (
	stateHeader = iota
	stateStored
	stateHuffman
	stateDone
)

// NewReader returns a Reader of src.
func NewReader(src *bufio.Reader) *Reader { return &Reader{src: src} }

// need makes sure that k bits are buffered. With produced true it reads
// only bytes that are buffered already, and says errWouldBlock otherwise.
func (z *Reader) need(k uint, produced bool) error {
	for z.nbits < k {
		if produced && z.src.Buffered() == 0 {
			return errWouldBlock
		}
		b, err := z.src.ReadByte()
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		z.bits |= uint64(b) << z.nbits
		z.nbits += 8
	}
	return nil
}

// take consumes k buffered bits and returns them.
func (z *Reader) take(k uint) uint32 {
	v := uint32(z.bits & (1<<k - 1))
	z.bits >>= k
	z.nbits -= k
	return v
}

// peekDecode decodes one symbol of h from the bits at offset off without
// consuming them, returning the symbol and the bits it took.
func (z *Reader) peekDecode(h *huffman, off uint, produced bool) (sym int, n uint, err error) {
	code, first, index := 0, 0, 0
	for l := uint(1); l < 16; l++ {
		if err := z.need(off+l, produced); err != nil {
			return 0, 0, err
		}
		code |= int(z.bits>>(off+l-1)) & 1
		count := int(h.count[l])
		if code-first < count {
			return int(h.symbol[index+code-first]), l, nil
		}
		index += count
		first += count
		first <<= 1
		code <<= 1
	}
	return 0, 0, ErrCorrupt
}

var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// codeLengthOrder is the order of the code length code lengths
	// (RFC 1951 section 3.2.7).
	codeLengthOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// put writes b to the output and the window.
func (z *Reader) put(p []byte, n int, b byte) int {
	p[n] = b
	z.window[z.wpos] = b
	z.wpos = (z.wpos + 1) & (windowSize - 1)
	z.total++
	return n + 1
}

// Read decodes into p. It waits for input only while it has produced
// nothing.
func (z *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	for n < len(p) {
		if z.err != nil {
			break
		}
		// A match being copied needs no input.
		if z.copyLen > 0 {
			for z.copyLen > 0 && n < len(p) {
				n = z.put(p, n, z.window[(z.wpos-z.copyDist)&(windowSize-1)])
				z.copyLen--
			}
			continue
		}
		var err error
		switch z.state {
		case stateDone:
			z.err = io.EOF
			continue
		case stateHeader:
			if n > 0 {
				return n, nil // a block header may take long to arrive
			}
			err = z.header()
		case stateStored:
			if z.stored == 0 {
				z.state = z.next()
				continue
			}
			if n > 0 && z.nbits == 0 && z.src.Buffered() == 0 {
				return n, nil
			}
			if err = z.need(8, n > 0); err == nil {
				n = z.put(p, n, byte(z.take(8)))
				z.stored--
			}
		case stateHuffman:
			n, err = z.symbol(p, n)
		}
		if errors.Is(err, errWouldBlock) {
			return n, nil
		}
		if err != nil {
			z.err = err
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, z.err
}

// next is the state after a block: another header, or the end.
func (z *Reader) next() int {
	if z.final {
		return stateDone
	}
	return stateHeader
}

// symbol decodes one literal, end of block or length/distance pair and
// writes what it yields (a match is continued by Read).
func (z *Reader) symbol(p []byte, n int) (int, error) {
	produced := n > 0
	sym, l, err := z.peekDecode(&z.lit, 0, produced)
	if err != nil {
		return n, err
	}
	switch {
	case sym < 256:
		z.take(l)
		return z.put(p, n, byte(sym)), nil
	case sym == 256:
		z.take(l)
		z.state = z.next()
		return n, nil
	case sym > 285:
		return n, ErrCorrupt
	}
	i := sym - 257
	off := l
	le := uint(lengthExtra[i])
	if err := z.need(off+le, produced); err != nil {
		return n, err
	}
	length := int(lengthBase[i]) + int(uint32(z.bits>>off)&(1<<le-1))
	off += le
	dsym, dl, err := z.peekDecode(&z.dist, off, produced)
	if err != nil {
		return n, err
	}
	if dsym > 29 {
		return n, ErrCorrupt
	}
	off += dl
	de := uint(distExtra[dsym])
	if err := z.need(off+de, produced); err != nil {
		return n, err
	}
	dist := int(distBase[dsym]) + int(uint32(z.bits>>off)&(1<<de-1))
	off += de
	if int64(dist) > z.total {
		return n, fmt.Errorf("%w: distance %d reaches before the start", ErrCorrupt, dist)
	}
	z.take(off)
	z.copyLen, z.copyDist = length, dist
	return n, nil
}

// header reads a block header and its code tables.
func (z *Reader) header() error {
	if err := z.need(3, false); err != nil {
		return err
	}
	z.final = z.take(1) == 1
	switch z.take(2) {
	case 0:
		z.take(z.nbits % 8) // to a byte boundary
		if err := z.need(32, false); err != nil {
			return err
		}
		length, nlength := z.take(16), z.take(16)
		if length != ^nlength&0xffff {
			return fmt.Errorf("%w: stored block length", ErrCorrupt)
		}
		z.stored = int(length)
		z.state = stateStored
		return nil
	case 1:
		if !z.fixed {
			z.fixedTables()
		}
		z.state = stateHuffman
		return nil
	case 2:
		z.fixed = false
		if err := z.dynamicTables(); err != nil {
			return err
		}
		z.state = stateHuffman
		return nil
	}
	return fmt.Errorf("%w: block type 3", ErrCorrupt)
}

// fixedTables sets the fixed codes of RFC 1951 section 3.2.6.
func (z *Reader) fixedTables() {
	var lengths [288]uint8
	for i := range lengths {
		switch {
		case i < 144:
			lengths[i] = 8
		case i < 256:
			lengths[i] = 9
		case i < 280:
			lengths[i] = 7
		default:
			lengths[i] = 8
		}
	}
	_ = z.lit.build(lengths[:])
	var d [30]uint8
	for i := range d {
		d[i] = 5
	}
	_ = z.dist.build(d[:])
	z.fixed = true
}

// dynamicTables reads the code tables of a dynamic block (RFC 1951 section
// 3.2.7).
func (z *Reader) dynamicTables() error {
	if err := z.need(14, false); err != nil {
		return err
	}
	nlen := int(z.take(5)) + 257
	ndist := int(z.take(5)) + 1
	ncode := int(z.take(4)) + 4
	if nlen > 286 || ndist > 30 {
		return fmt.Errorf("%w: too many codes", ErrCorrupt)
	}
	var cl [19]uint8
	for i := 0; i < ncode; i++ {
		if err := z.need(3, false); err != nil {
			return err
		}
		cl[codeLengthOrder[i]] = uint8(z.take(3))
	}
	var clh huffman
	if err := clh.build(cl[:]); err != nil {
		return err
	}
	lengths := make([]uint8, nlen+ndist)
	for i := 0; i < len(lengths); {
		sym, l, err := z.peekDecode(&clh, 0, false)
		if err != nil {
			return err
		}
		z.take(l)
		if sym < 16 {
			lengths[i] = uint8(sym)
			i++
			continue
		}
		var prev uint8
		var rep int
		switch sym {
		case 16:
			if i == 0 {
				return fmt.Errorf("%w: repeat with no previous length", ErrCorrupt)
			}
			prev = lengths[i-1]
			if err := z.need(2, false); err != nil {
				return err
			}
			rep = 3 + int(z.take(2))
		case 17:
			if err := z.need(3, false); err != nil {
				return err
			}
			rep = 3 + int(z.take(3))
		default:
			if err := z.need(7, false); err != nil {
				return err
			}
			rep = 11 + int(z.take(7))
		}
		if i+rep > len(lengths) {
			return fmt.Errorf("%w: code lengths overrun", ErrCorrupt)
		}
		for ; rep > 0; rep-- {
			lengths[i] = prev
			i++
		}
	}
	if lengths[256] == 0 {
		return fmt.Errorf("%w: no end-of-block code", ErrCorrupt)
	}
	if err := z.lit.build(lengths[:nlen]); err != nil {
		return err
	}
	return z.dist.build(lengths[nlen:])
}
