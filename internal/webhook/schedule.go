package webhook

import (
	"fmt"
	"strings"
	"time"
)

// MaxAge is how long an event is retried: a receiver down for longer
// than a day misses it (the attempt is recorded as failed).
const MaxAge = 24 * time.Hour

// Schedule is the delay before each retry: the nth entry after the nth
// failed attempt, the last entry for every attempt after it.
type Schedule []time.Duration

// DefaultSchedule retries after 5 s, 30 s, 2 min, 10 min, 30 min, then
// hourly (until MaxAge).
func DefaultSchedule() Schedule {
	return Schedule{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour}
}

// Delay is the wait before the attempt after attempt (1 for the first).
func (s Schedule) Delay(attempt int) time.Duration {
	if len(s) == 0 {
		return time.Hour
	}
	i := min(max(attempt, 1), len(s)) - 1
	return s[i]
}

// String is the schedule as ParseSchedule reads it.
func (s Schedule) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

// ParseSchedule reads a comma-separated list of durations, each from 1 s
// to MaxAge, e.g. "5s,30s,2m,10m,30m,1h".
func ParseSchedule(v string) (Schedule, error) {
	var s Schedule
	for _, part := range strings.Split(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration", part)
		}
		if d < time.Second || d > MaxAge {
			return nil, fmt.Errorf("%s: each delay must be between 1s and %s", d, MaxAge)
		}
		s = append(s, d)
	}
	return s, nil
}
