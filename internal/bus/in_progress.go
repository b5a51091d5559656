package bus

import "time"

// KeepInProgress tells JetStream every interval that m is still being
// worked on, until the returned stop is called: a consumer's AckWait is kept
// short (a crashed worker's messages come back within seconds) and may be
// shorter than a slow store or delivery.
func KeepInProgress(m interface{ InProgress() error }, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	}()
	return func() { close(done) }
}
