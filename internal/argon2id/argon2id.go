// Package argon2id computes Argon2id, the memory-hard password hash of RFC
// 9106 (version 0x13), in working memory mapped outside the Go heap.
//
// golang.org/x/crypto/argon2 computes the same function, but in a slice
// of the Go heap: a login that checks a hash grows the heap by the hash's
// memory (7 MiB and more), which starts a garbage collection, touches every
// 4 KiB page of fresh memory for the first time (on a virtual machine each
// such page fault costs tens of microseconds: more than the hash itself
// for the first login after a start), and leaves the memory resident in the
// heap afterwards. Here the working memory is an anonymous mapping that
// asks for transparent huge pages where the kernel offers them, is unmapped
// (and so given back, wiped by the kernel) as soon as the hash is done, and
// is never scanned by the garbage collector.
package argon2id

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync"

	"golang.org/x/crypto/blake2b"
)

// Version is the Argon2 version computed (0x13, RFC 9106), the v= of a
// PHC string.
const Version = 0x13

const (
	blockSize  = 1024 // bytes in a memory block
	blockWords = blockSize / 8
	syncPoints = 4 // slices per pass
	argonType  = 2 // Argon2id
	// addressesPerBlock is how many reference pairs an address block holds.
	addressesPerBlock = blockWords
)

// block is one 1 KiB block of the working memory, as 64-bit words.
type block [blockWords]uint64

// Key derives a keyLen-byte key from password and salt with Argon2id:
// passes over memory KiB of working memory in lanes lanes (the parameters
// t, m and p of RFC 9106). Like golang.org/x/crypto/argon2, and unlike
// the reference implementation, it accepts m < 8·p, hashing the m given
// and using 8·p blocks. No secret
// and no associated data are used. An error means the memory could not be
// mapped or a parameter is out of range.
func Key(password, salt []byte, passes, memory uint32, lanes uint8, keyLen uint32) ([]byte, error) {
	return deriveKey(password, salt, nil, nil, passes, memory, lanes, keyLen)
}

// deriveKey is Key with the optional secret K and associated data X of
// RFC 9106 (its test vectors use them).
func deriveKey(password, salt, secret, data []byte, passes, memory uint32, lanes uint8, keyLen uint32) ([]byte, error) {
	switch {
	case passes < 1:
		return nil, fmt.Errorf("argon2id: %d passes: at least 1 needed", passes)
	case lanes < 1:
		return nil, fmt.Errorf("argon2id: %d lanes: at least 1 needed", lanes)
	case keyLen < 4:
		return nil, fmt.Errorf("argon2id: key of %d bytes: at least 4 needed", keyLen)
	}
	p := uint32(lanes)
	h0 := initialHash(password, salt, secret, data, passes, memory, p, keyLen)
	laneLen := memory / (syncPoints * p) * syncPoints
	if laneLen < 2*syncPoints {
		laneLen = 2 * syncPoints
	}
	mem, err := mapBlocks(int(laneLen * p))
	if err != nil {
		return nil, fmt.Errorf("argon2id: working memory of %d KiB: %w", laneLen*p, err)
	}
	defer mem.unmap()
	in := instance{
		b:       mem.blocks,
		passes:  passes,
		lanes:   p,
		laneLen: laneLen,
		segLen:  laneLen / syncPoints,
	}

	// The first two blocks of each lane: H'^1024(H0 || LE32(0 or 1) || LE32(lane)).
	var seed [blake2b.Size + 8]byte
	copy(seed[:], h0[:])
	var buf [blockSize]byte
	for lane := range p {
		binary.LittleEndian.PutUint32(seed[blake2b.Size+4:], lane)
		for i := range uint32(2) {
			binary.LittleEndian.PutUint32(seed[blake2b.Size:], i)
			hashLong(buf[:], seed[:])
			b := &in.b[lane*laneLen+i]
			for w := range b {
				b[w] = binary.LittleEndian.Uint64(buf[8*w:])
			}
		}
	}

	for pass := range passes {
		for slice := range uint32(syncPoints) {
			if p == 1 {
				in.fillSegment(pass, slice, 0)
				continue
			}
			var wg sync.WaitGroup
			for lane := range p {
				wg.Add(1)
				go func() {
					defer wg.Done()
					in.fillSegment(pass, slice, lane)
				}()
			}
			wg.Wait()
		}
	}

	// The final block: the XOR of every lane's last block, then H'^T of it.
	final := in.b[laneLen-1]
	for lane := uint32(1); lane < p; lane++ {
		last := &in.b[lane*laneLen+laneLen-1]
		for w := range final {
			final[w] ^= last[w]
		}
	}
	for w, v := range final {
		binary.LittleEndian.PutUint64(buf[8*w:], v)
	}
	key := make([]byte, keyLen)
	hashLong(key, buf[:])
	return key, nil
}

// initialHash is H0 of RFC 9106 section 3.2.
func initialHash(password, salt, secret, data []byte, passes, memory, lanes, keyLen uint32) [blake2b.Size]byte {
	h, _ := blake2b.New512(nil) // cannot fail without a key
	var n [4]byte
	le32 := func(v uint32) {
		binary.LittleEndian.PutUint32(n[:], v)
		h.Write(n[:])
	}
	le32(lanes)
	le32(keyLen)
	le32(memory)
	le32(passes)
	le32(Version)
	le32(argonType)
	le32(uint32(len(password)))
	h.Write(password)
	le32(uint32(len(salt)))
	h.Write(salt)
	le32(uint32(len(secret)))
	h.Write(secret)
	le32(uint32(len(data)))
	h.Write(data)
	var sum [blake2b.Size]byte
	h.Sum(sum[:0])
	return sum
}

// hashLong is the variable-length hash H' of RFC 9106 section 3.3: it fills
// out with H'^len(out)(in).
func hashLong(out, in []byte) {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(out)))
	if len(out) <= blake2b.Size {
		h, _ := blake2b.New(len(out), nil) // 1 ≤ len(out) ≤ 64: cannot fail
		h.Write(n[:])
		h.Write(in)
		h.Sum(out[:0])
		return
	}
	h, _ := blake2b.New512(nil)
	h.Write(n[:])
	h.Write(in)
	var v [blake2b.Size]byte
	h.Sum(v[:0])
	copy(out, v[:32])
	done := 32
	for len(out)-done > blake2b.Size {
		h.Reset()
		h.Write(v[:])
		h.Sum(v[:0])
		copy(out[done:], v[:32])
		done += 32
	}
	last, _ := blake2b.New(len(out)-done, nil)
	last.Write(v[:])
	last.Sum(out[done:done])
}

// instance is the working memory of one hash and its shape.
type instance struct {
	b       []block
	passes  uint32
	lanes   uint32
	laneLen uint32 // blocks per lane, q of RFC 9106
	segLen  uint32 // blocks per segment: laneLen / 4
}

// fillSegment computes the blocks of one segment (RFC 9106 section 3.4):
// lane lane, slice slice of pass pass.
//
// It and the functions it calls are compiled without the race detector's
// instrumentation (go:norace): they touch only this hash's own working
// memory, mapped outside the Go heap where the detector watches nothing
// anyway, and the instrumentation made a hash about nine times as slow
// under `go test -race`, which every test that sets or checks a password
// pays.
//
//go:norace
func (in *instance) fillSegment(pass, slice, lane uint32) {
	// Argon2id: data-independent addressing in the first half of the
	// first pass, data-dependent after.
	independent := pass == 0 && slice < syncPoints/2
	var input, addresses block
	if independent {
		input[0] = uint64(pass)
		input[1] = uint64(lane)
		input[2] = uint64(slice)
		input[3] = uint64(in.laneLen * in.lanes)
		input[4] = uint64(in.passes)
		input[5] = argonType
	}
	first := uint32(0)
	if pass == 0 && slice == 0 {
		first = 2 // the first two blocks of a lane were made from H0
		if independent {
			nextAddresses(&addresses, &input)
		}
	}
	laneStart := lane * in.laneLen
	for idx := first; idx < in.segLen; idx++ {
		cur := laneStart + slice*in.segLen + idx
		prev := cur - 1
		if cur == laneStart {
			prev = laneStart + in.laneLen - 1
		}
		var rnd uint64
		if independent {
			if idx%addressesPerBlock == 0 {
				nextAddresses(&addresses, &input)
			}
			rnd = addresses[idx%addressesPerBlock]
		} else {
			rnd = in.b[prev][0]
		}
		refLane := uint32(rnd>>32) % in.lanes
		if pass == 0 && slice == 0 {
			refLane = lane
		}
		ref := refLane*in.laneLen + in.refIndex(pass, slice, idx, uint32(rnd), refLane == lane)
		compress(&in.b[cur], &in.b[prev], &in.b[ref], pass > 0)
	}
}

// refIndex maps J1 to the block of the reference lane that block idx of
// the segment is computed from (RFC 9106 section 3.4.2).
func (in *instance) refIndex(pass, slice, idx, j1 uint32, sameLane bool) uint32 {
	var area uint32 // the blocks that may be referenced
	switch {
	case pass == 0 && slice == 0:
		area = idx - 1
	case pass == 0 && sameLane:
		area = slice*in.segLen + idx - 1
	case pass == 0:
		area = slice * in.segLen
		if idx == 0 {
			area--
		}
	case sameLane:
		area = in.laneLen - in.segLen + idx - 1
	default:
		area = in.laneLen - in.segLen
		if idx == 0 {
			area--
		}
	}
	x := uint64(j1)
	x = x * x >> 32
	rel := uint64(area) - 1 - (uint64(area) * x >> 32)
	start := uint64(0)
	if pass != 0 && slice != syncPoints-1 {
		start = uint64((slice + 1) * in.segLen)
	}
	return uint32((start + rel) % uint64(in.laneLen))
}

// nextAddresses increments the counter of input and computes the next
// address block: G(0, G(0, input)).
//
//go:norace
func nextAddresses(addresses, input *block) {
	input[6]++
	var zero block
	compress(addresses, &zero, input, false)
	compress(addresses, &zero, addresses, false)
}

// compress is the compression function G of RFC 9106 section 3.5: dst =
// G(x, y), or dst ^= G(x, y) when xor is set (the passes after the first,
// version 0x13). dst may be y but not x.
//
//go:norace
func compress(dst, x, y *block, xor bool) {
	var r, q block
	for i := range r {
		r[i] = x[i] ^ y[i]
	}
	q = r
	for i := 0; i < blockWords; i += 16 { // rows: 8 consecutive 16-byte registers
		permuteRow((*[16]uint64)(q[i : i+16]))
	}
	for j := 0; j < 16; j += 2 { // columns: registers j/2, j/2+8, …, j/2+56
		permuteColumn((*[114]uint64)(q[j : j+114]))
	}
	if xor {
		for i := range dst {
			dst[i] ^= q[i] ^ r[i]
		}
	} else {
		for i := range dst {
			dst[i] = q[i] ^ r[i]
		}
	}
}

// permuteRow is the permutation P of RFC 9106 section 3.6 on a row of the
// block: eight 16-byte registers, sixteen consecutive 64-bit words, low
// word first. P applies GB, BLAKE2b's G with each addition a + b replaced
// by a + b + 2·lo32(a)·lo32(b), to the columns and then the diagonals of
// the 4×4 matrix of words. It is written out (here and in permuteColumn)
// because the compiler would not inline GB.
//
//go:norace
func permuteRow(v *[16]uint64) {
	v0, v1, v2, v3, v4, v5, v6, v7 := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
	v8, v9, v10, v11, v12, v13, v14, v15 := v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]
	v0 += v4 + 2*uint64(uint32(v0))*uint64(uint32(v4))
	v12 = bits.RotateLeft64(v12^v0, -32)
	v8 += v12 + 2*uint64(uint32(v8))*uint64(uint32(v12))
	v4 = bits.RotateLeft64(v4^v8, -24)
	v0 += v4 + 2*uint64(uint32(v0))*uint64(uint32(v4))
	v12 = bits.RotateLeft64(v12^v0, -16)
	v8 += v12 + 2*uint64(uint32(v8))*uint64(uint32(v12))
	v4 = bits.RotateLeft64(v4^v8, -63)
	v1 += v5 + 2*uint64(uint32(v1))*uint64(uint32(v5))
	v13 = bits.RotateLeft64(v13^v1, -32)
	v9 += v13 + 2*uint64(uint32(v9))*uint64(uint32(v13))
	v5 = bits.RotateLeft64(v5^v9, -24)
	v1 += v5 + 2*uint64(uint32(v1))*uint64(uint32(v5))
	v13 = bits.RotateLeft64(v13^v1, -16)
	v9 += v13 + 2*uint64(uint32(v9))*uint64(uint32(v13))
	v5 = bits.RotateLeft64(v5^v9, -63)
	v2 += v6 + 2*uint64(uint32(v2))*uint64(uint32(v6))
	v14 = bits.RotateLeft64(v14^v2, -32)
	v10 += v14 + 2*uint64(uint32(v10))*uint64(uint32(v14))
	v6 = bits.RotateLeft64(v6^v10, -24)
	v2 += v6 + 2*uint64(uint32(v2))*uint64(uint32(v6))
	v14 = bits.RotateLeft64(v14^v2, -16)
	v10 += v14 + 2*uint64(uint32(v10))*uint64(uint32(v14))
	v6 = bits.RotateLeft64(v6^v10, -63)
	v3 += v7 + 2*uint64(uint32(v3))*uint64(uint32(v7))
	v15 = bits.RotateLeft64(v15^v3, -32)
	v11 += v15 + 2*uint64(uint32(v11))*uint64(uint32(v15))
	v7 = bits.RotateLeft64(v7^v11, -24)
	v3 += v7 + 2*uint64(uint32(v3))*uint64(uint32(v7))
	v15 = bits.RotateLeft64(v15^v3, -16)
	v11 += v15 + 2*uint64(uint32(v11))*uint64(uint32(v15))
	v7 = bits.RotateLeft64(v7^v11, -63)
	v0 += v5 + 2*uint64(uint32(v0))*uint64(uint32(v5))
	v15 = bits.RotateLeft64(v15^v0, -32)
	v10 += v15 + 2*uint64(uint32(v10))*uint64(uint32(v15))
	v5 = bits.RotateLeft64(v5^v10, -24)
	v0 += v5 + 2*uint64(uint32(v0))*uint64(uint32(v5))
	v15 = bits.RotateLeft64(v15^v0, -16)
	v10 += v15 + 2*uint64(uint32(v10))*uint64(uint32(v15))
	v5 = bits.RotateLeft64(v5^v10, -63)
	v1 += v6 + 2*uint64(uint32(v1))*uint64(uint32(v6))
	v12 = bits.RotateLeft64(v12^v1, -32)
	v11 += v12 + 2*uint64(uint32(v11))*uint64(uint32(v12))
	v6 = bits.RotateLeft64(v6^v11, -24)
	v1 += v6 + 2*uint64(uint32(v1))*uint64(uint32(v6))
	v12 = bits.RotateLeft64(v12^v1, -16)
	v11 += v12 + 2*uint64(uint32(v11))*uint64(uint32(v12))
	v6 = bits.RotateLeft64(v6^v11, -63)
	v2 += v7 + 2*uint64(uint32(v2))*uint64(uint32(v7))
	v13 = bits.RotateLeft64(v13^v2, -32)
	v8 += v13 + 2*uint64(uint32(v8))*uint64(uint32(v13))
	v7 = bits.RotateLeft64(v7^v8, -24)
	v2 += v7 + 2*uint64(uint32(v2))*uint64(uint32(v7))
	v13 = bits.RotateLeft64(v13^v2, -16)
	v8 += v13 + 2*uint64(uint32(v8))*uint64(uint32(v13))
	v7 = bits.RotateLeft64(v7^v8, -63)
	v3 += v4 + 2*uint64(uint32(v3))*uint64(uint32(v4))
	v14 = bits.RotateLeft64(v14^v3, -32)
	v9 += v14 + 2*uint64(uint32(v9))*uint64(uint32(v14))
	v4 = bits.RotateLeft64(v4^v9, -24)
	v3 += v4 + 2*uint64(uint32(v3))*uint64(uint32(v4))
	v14 = bits.RotateLeft64(v14^v3, -16)
	v9 += v14 + 2*uint64(uint32(v9))*uint64(uint32(v14))
	v4 = bits.RotateLeft64(v4^v9, -63)
	v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] = v0, v1, v2, v3, v4, v5, v6, v7
	v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15] = v8, v9, v10, v11, v12, v13, v14, v15
}

// permuteColumn is P on a column of the block: registers j, j+8, …,
// j+56, that is words 2j, 2j+1, 2j+16, 2j+17, …, 2j+113, given from word
// 2j on. It is permuteRow with the column's word offsets: gathering each
// column into a row and back cost a quarter more CPU per hash (perf stat,
// BenchmarkKey).
//
//go:norace
func permuteColumn(v *[114]uint64) {
	v0, v1, v2, v3, v4, v5, v6, v7 := v[0], v[1], v[16], v[17], v[32], v[33], v[48], v[49]
	v8, v9, v10, v11, v12, v13, v14, v15 := v[64], v[65], v[80], v[81], v[96], v[97], v[112], v[113]
	v0 += v4 + 2*uint64(uint32(v0))*uint64(uint32(v4))
	v12 = bits.RotateLeft64(v12^v0, -32)
	v8 += v12 + 2*uint64(uint32(v8))*uint64(uint32(v12))
	v4 = bits.RotateLeft64(v4^v8, -24)
	v0 += v4 + 2*uint64(uint32(v0))*uint64(uint32(v4))
	v12 = bits.RotateLeft64(v12^v0, -16)
	v8 += v12 + 2*uint64(uint32(v8))*uint64(uint32(v12))
	v4 = bits.RotateLeft64(v4^v8, -63)
	v1 += v5 + 2*uint64(uint32(v1))*uint64(uint32(v5))
	v13 = bits.RotateLeft64(v13^v1, -32)
	v9 += v13 + 2*uint64(uint32(v9))*uint64(uint32(v13))
	v5 = bits.RotateLeft64(v5^v9, -24)
	v1 += v5 + 2*uint64(uint32(v1))*uint64(uint32(v5))
	v13 = bits.RotateLeft64(v13^v1, -16)
	v9 += v13 + 2*uint64(uint32(v9))*uint64(uint32(v13))
	v5 = bits.RotateLeft64(v5^v9, -63)
	v2 += v6 + 2*uint64(uint32(v2))*uint64(uint32(v6))
	v14 = bits.RotateLeft64(v14^v2, -32)
	v10 += v14 + 2*uint64(uint32(v10))*uint64(uint32(v14))
	v6 = bits.RotateLeft64(v6^v10, -24)
	v2 += v6 + 2*uint64(uint32(v2))*uint64(uint32(v6))
	v14 = bits.RotateLeft64(v14^v2, -16)
	v10 += v14 + 2*uint64(uint32(v10))*uint64(uint32(v14))
	v6 = bits.RotateLeft64(v6^v10, -63)
	v3 += v7 + 2*uint64(uint32(v3))*uint64(uint32(v7))
	v15 = bits.RotateLeft64(v15^v3, -32)
	v11 += v15 + 2*uint64(uint32(v11))*uint64(uint32(v15))
	v7 = bits.RotateLeft64(v7^v11, -24)
	v3 += v7 + 2*uint64(uint32(v3))*uint64(uint32(v7))
	v15 = bits.RotateLeft64(v15^v3, -16)
	v11 += v15 + 2*uint64(uint32(v11))*uint64(uint32(v15))
	v7 = bits.RotateLeft64(v7^v11, -63)
	v0 += v5 + 2*uint64(uint32(v0))*uint64(uint32(v5))
	v15 = bits.RotateLeft64(v15^v0, -32)
	v10 += v15 + 2*uint64(uint32(v10))*uint64(uint32(v15))
	v5 = bits.RotateLeft64(v5^v10, -24)
	v0 += v5 + 2*uint64(uint32(v0))*uint64(uint32(v5))
	v15 = bits.RotateLeft64(v15^v0, -16)
	v10 += v15 + 2*uint64(uint32(v10))*uint64(uint32(v15))
	v5 = bits.RotateLeft64(v5^v10, -63)
	v1 += v6 + 2*uint64(uint32(v1))*uint64(uint32(v6))
	v12 = bits.RotateLeft64(v12^v1, -32)
	v11 += v12 + 2*uint64(uint32(v11))*uint64(uint32(v12))
	v6 = bits.RotateLeft64(v6^v11, -24)
	v1 += v6 + 2*uint64(uint32(v1))*uint64(uint32(v6))
	v12 = bits.RotateLeft64(v12^v1, -16)
	v11 += v12 + 2*uint64(uint32(v11))*uint64(uint32(v12))
	v6 = bits.RotateLeft64(v6^v11, -63)
	v2 += v7 + 2*uint64(uint32(v2))*uint64(uint32(v7))
	v13 = bits.RotateLeft64(v13^v2, -32)
	v8 += v13 + 2*uint64(uint32(v8))*uint64(uint32(v13))
	v7 = bits.RotateLeft64(v7^v8, -24)
	v2 += v7 + 2*uint64(uint32(v2))*uint64(uint32(v7))
	v13 = bits.RotateLeft64(v13^v2, -16)
	v8 += v13 + 2*uint64(uint32(v8))*uint64(uint32(v13))
	v7 = bits.RotateLeft64(v7^v8, -63)
	v3 += v4 + 2*uint64(uint32(v3))*uint64(uint32(v4))
	v14 = bits.RotateLeft64(v14^v3, -32)
	v9 += v14 + 2*uint64(uint32(v9))*uint64(uint32(v14))
	v4 = bits.RotateLeft64(v4^v9, -24)
	v3 += v4 + 2*uint64(uint32(v3))*uint64(uint32(v4))
	v14 = bits.RotateLeft64(v14^v3, -16)
	v9 += v14 + 2*uint64(uint32(v9))*uint64(uint32(v14))
	v4 = bits.RotateLeft64(v4^v9, -63)
	v[0], v[1], v[16], v[17], v[32], v[33], v[48], v[49] = v0, v1, v2, v3, v4, v5, v6, v7
	v[64], v[65], v[80], v[81], v[96], v[97], v[112], v[113] = v8, v9, v10, v11, v12, v13, v14, v15
}
