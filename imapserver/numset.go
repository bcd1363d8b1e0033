package imapserver

import "slices"

// seqRange is a range of a sequence set; 0 stands for "*".
type seqRange struct{ start, stop uint32 }

// numSet is a sequence set of message numbers or UIDs (RFC 9051
// sequence-set), or the saved search result "$" (RFC 5182).
type numSet struct {
	ranges []seqRange
	saved  bool
}

// maxSetRanges bounds the ranges of one sequence set.
const maxSetRanges = 10000

// numSet reads a sequence set.
// spNumSet reads a space and a sequence set: the first argument of FETCH,
// STORE, COPY, MOVE and UID EXPUNGE.
func (r *reader) spNumSet() (numSet, error) {
	if err := r.sp(); err != nil {
		return numSet{}, err
	}
	return r.numSet()
}

func (r *reader) numSet() (numSet, error) {
	if r.accept('$') {
		return numSet{saved: true}, nil
	}
	var set numSet
	for {
		start, err := r.seqNumber()
		if err != nil {
			return set, err
		}
		stop := start
		if r.accept(':') {
			if stop, err = r.seqNumber(); err != nil {
				return set, err
			}
			if r.peek() == ':' {
				return set, badf("Malformed sequence set: a range has two ends")
			}
		}
		if len(set.ranges) >= maxSetRanges {
			return set, badf("Sequence set has too many ranges")
		}
		set.ranges = append(set.ranges, seqRange{start, stop})
		if !r.accept(',') {
			return set, nil
		}
	}
}

// seqNumber reads a nz-number or "*" (0).
func (r *reader) seqNumber() (uint32, error) {
	if r.accept('*') {
		return 0, nil
	}
	n, err := r.number("a message number")
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, badf("Invalid message number 0 (numbers start at 1)")
	}
	return n, nil
}

// bounds returns a range's ends in order, "*" standing for max.
func (sr seqRange) bounds(max uint32) (uint32, uint32) {
	start, stop := sr.start, sr.stop
	if start == 0 {
		start = max
	}
	if stop == 0 {
		stop = max
	}
	if start > stop {
		start, stop = stop, start
	}
	return start, stop
}

// contains reports whether n is in the set, "*" standing for max.
func (s numSet) contains(n, max uint32) bool {
	for _, sr := range s.ranges {
		if start, stop := sr.bounds(max); start <= n && n <= stop {
			return true
		}
	}
	return false
}

// formatUIDs writes ascending UIDs as a compact sequence set ("1:3,7").
func formatUIDs(uids []uint32) string {
	uids = slices.Clone(uids)
	slices.Sort(uids)
	return formatOrdered(slices.Compact(uids))
}

// formatOrdered writes numbers in the given order (COPYUID pairs the
// source and destination UIDs by position, so order matters), joining
// runs of consecutive ascending numbers.
func formatOrdered(nums []uint32) string {
	var b []byte
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = appendUint(b, nums[i])
		if j > i {
			b = append(b, ':')
			b = appendUint(b, nums[j])
		}
		i = j + 1
	}
	return string(b)
}

func appendUint(b []byte, n uint32) []byte {
	var tmp [10]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}
