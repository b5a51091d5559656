package enmime

// Mailgent fork: the fork's boundaryReader.Read (a line's bytes copied at
// once, the part-start check only at a part's first byte, and a part read
// to the end flagged unbounded) must give the parts upstream v2.3.0 gives
// wherever boundaries start lines. upstreamReader is v2.3.0's Read verbatim.

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/pkg/errors"
)

type upstreamReader struct{ b *boundaryReader }

func (u upstreamReader) Read(dest []byte) (n int, err error) {
	b := u.b
	if b.buffer.Len() >= len(dest) {
		// This read request can be satisfied entirely by the buffer.
		n, err = b.buffer.Read(dest)
		if b.atPartStart && n > 0 {
			b.atPartStart = false
		}

		return n, err
	}

	for i := 0; i < len(dest); i++ {
		var cs []byte
		cs, err = b.r.Peek(1)
		if err != nil && err != io.EOF {
			return 0, errors.WithStack(err)
		}
		// Ensure that we can switch on the first byte of 'cs' without panic.
		if len(cs) > 0 {
			padding := 1
			check := false

			switch cs[0] {
			// Check for carriage return as potential CRLF boundary prefix.
			case '\r':
				padding = 2
				check = true
			// Check for line feed as potential LF boundary prefix.
			case '\n':
				check = true

			default:
				if b.atPartStart {
					// If we're at the very beginning of the part (even before the headers),
					// check to see if there's a delimiter that immediately follows.
					padding = 0
					check = true
				}
			}

			if check {
				var peek []byte
				peek, err = b.r.Peek(len(b.nlPrefix) + padding + 1)
				switch err {
				case nil:
					// Check the whitespace at the head of the peek to avoid checking for a boundary early.
					if bytes.HasPrefix(peek, []byte("\n\n")) ||
						bytes.HasPrefix(peek, []byte("\n\r")) ||
						bytes.HasPrefix(peek, []byte("\r\n\r")) ||
						bytes.HasPrefix(peek, []byte("\r\n\n")) {
						break
					}
					// Check the peek buffer for a boundary delimiter or terminator.
					if b.isDelimiter(peek[padding:]) || b.isTerminator(peek[padding:]) {
						// We have found our boundary terminator, lets write out the final bytes
						// and return io.EOF to indicate that this section read is complete.
						n, err = b.buffer.Read(dest)
						switch err {
						case nil, io.EOF:
							if b.atPartStart && n > 0 {
								b.atPartStart = false
							}
							return n, io.EOF
						default:
							return 0, errors.WithStack(err)
						}
					}
				case io.EOF:
					// We have reached the end without finding a boundary,
					// so we flag the boundary reader to add an error to
					// the errors slice and write what we have to the buffer.
					b.unbounded = true
				default:
					continue
				}
			}
		}

		var next byte
		next, err = b.r.ReadByte()
		if err != nil {
			// EOF is not fatal, it just means that we have drained the reader.
			if errors.Is(err, io.EOF) {
				break
			}

			return 0, errors.WithStack(err)
		}

		if err = b.buffer.WriteByte(next); err != nil {
			return 0, errors.WithStack(err)
		}
	}

	// Read the contents of the buffer into the destination slice.
	n, err = b.buffer.Read(dest)
	if b.atPartStart && n > 0 {
		b.atPartStart = false
	}
	return n, err
}

type readPart struct {
	data []byte
	err  string
}

// readAllParts reads every part, through upstream's Read or the fork's,
// with reads of size chunk, and says whether a part was unbounded.
func readAllParts(input []byte, boundary string, chunk int, upstream bool) ([]readPart, bool) {
	br := newBoundaryReader(bufio.NewReaderSize(bytes.NewReader(input), peekBufferSize), boundary)
	var r io.Reader = br
	if upstream {
		r = upstreamReader{br}
	}
	var parts []readPart
	for len(parts) < 100 {
		next, err := br.Next() // the part before was read to its end
		if err != nil || !next {
			break
		}
		var p readPart
		buf := make([]byte, chunk)
		for {
			n, err := r.Read(buf)
			p.data = append(p.data, buf[:n]...)
			if err != nil {
				if err != io.EOF {
					p.err = err.Error()
				}
				break
			}
		}
		parts = append(parts, p)
	}
	return parts, br.unbounded
}

// boundariesStartLines reports whether every occurrence of --boundary
// starts the input or follows a line break (where upstream's check at
// every byte of a part's first Read differs only by its bug).
func boundariesStartLines(input []byte, boundary string) bool {
	prefix := []byte("--" + boundary)
	for i := 0; ; {
		j := bytes.Index(input[i:], prefix)
		if j < 0 {
			return true
		}
		at := i + j
		if at > 0 && input[at-1] != '\n' && input[at-1] != '\r' {
			return false
		}
		i = at + 1
	}
}

func FuzzBoundaryReaderFork(f *testing.F) {
	f.Add("--XX\r\nContent-Type: text/plain\r\n\r\nYour code is 123456\r\n--XX\r\n\r\n<p>hi</p>\r\n--XX--\r\n", "XX", 4096)
	f.Add("preamble\n--XX\nA: b\n\nbody\n--XX\n--XX\nC: d\n\n"+strings.Repeat("long line ", 900)+"\n--XX--\n", "XX", 7)
	f.Add("--b\n\n\n--b\r\n\r\nx\r\r\n--b--", "b", 1)
	f.Add("--XX\nContent-Type: text/html\n\n<p>Your code is <b>1234", "XX", 100)
	f.Fuzz(func(t *testing.T, input, boundary string, chunk int) {
		if boundary == "" || len(boundary) > 70 || chunk < 1 || chunk > 1<<16 || !boundariesStartLines([]byte(input), boundary) {
			return // outside what the fork promises: no boundary in mid-line, a boundary MIME allows
		}
		want, wantUnbounded := readAllParts([]byte(input), boundary, chunk, true)
		got, gotUnbounded := readAllParts([]byte(input), boundary, chunk, false)
		if len(got) != len(want) {
			t.Fatalf("%d parts, upstream %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i].data, want[i].data) || got[i].err != want[i].err {
				t.Fatalf("part %d: %q (%s), upstream %q (%s)", i, got[i].data, got[i].err, want[i].data, want[i].err)
			}
		}
		if wantUnbounded && !gotUnbounded {
			t.Fatalf("upstream flags a part unbounded, the fork does not")
		}
	})
}
