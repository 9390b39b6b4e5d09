package imagefs

import (
	"errors"
	"io"
	"sync"
)

// readAhead runs a reader (decompression, counting and hashing of a layer's stream) on
// its own goroutine, a few chunks ahead of the consumer (the tar walk), so that the two
// halves of the work use two cores. Memory is bounded by depth+2 chunks.
type readAhead struct {
	ch   chan chunk
	done chan struct{}
	stop func() // unblocks the producer's source
	wg   sync.WaitGroup
	free chan []byte

	cur []byte
	buf []byte // backing array of cur, returned to free when consumed
	err error

	closeOnce sync.Once
}

type chunk struct {
	data []byte
	err  error
}

const (
	readAheadChunk = 256 << 10
	readAheadDepth = 4
)

// newReadAhead starts reading r. stop is called by Close to end a read in progress
// (closing the layer's source).
func newReadAhead(r io.Reader, stop func()) *readAhead {
	ra := &readAhead{
		ch: make(chan chunk, readAheadDepth), done: make(chan struct{}), stop: stop,
		free: make(chan []byte, readAheadDepth+2),
	}
	ra.wg.Add(1)
	go ra.produce(r)
	return ra
}

func (ra *readAhead) produce(r io.Reader) {
	defer ra.wg.Done()
	for {
		var b []byte
		select {
		case b = <-ra.free:
		default:
			b = make([]byte, readAheadChunk)
		}
		n, err := io.ReadFull(r, b)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF // a short last chunk
		}
		select {
		case ra.ch <- chunk{data: b[:n], err: err}:
		case <-ra.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.buf != nil {
			select {
			case ra.free <- ra.buf[:cap(ra.buf)]:
			default:
			}
			ra.buf = nil
		}
		c := <-ra.ch
		ra.cur, ra.buf, ra.err = c.data, c.data, c.err
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the producer and waits for it, so that the readers it used may be closed.
func (ra *readAhead) Close() {
	ra.closeOnce.Do(func() {
		close(ra.done)
		if ra.stop != nil {
			ra.stop()
		}
		ra.wg.Wait()
	})
}
