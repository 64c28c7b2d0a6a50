package onbehalftest

import (
	"bytes"
	"sync"
)

// LogBuffer collects what a logger writes (log.Logger, slog's handlers, a
// ReverseProxy's ErrorLog) from the server's goroutines, for a test to read:
// a bytes.Buffer safe for concurrent use.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
