// Package service is a small but real web service that demands what
// services demand of a human: sign-up with email verification (a code and
// a link sent by SMTP), TOTP enrollment, and password + TOTP login before a
// protected page. The Mailgent sign-up demo points an agent at it.
// Standard library only, plus pquerna/otp for TOTP and skip2/go-qrcode
// for the enrolment page's QR image.
package service

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"net/smtp"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp/totp"
	qrcode "github.com/skip2/go-qrcode"
)

// Service is the web service; mount Handler() on an HTTP server.
type Service struct {
	// Name appears in mail and pages; BaseURL builds verification links.
	Name, BaseURL string
	// SMTPAddr is where verification mail goes (host:port); From is its sender.
	SMTPAddr, From string

	mu       sync.Mutex
	users    map[string]*user
	sessions map[string]string // session token → email
}

type user struct {
	email, password      string
	code, linkToken      string
	codeExpires          time.Time
	verified             bool
	totpSecret           string
	totpEnrolled         bool
	pendingSecret        string
	lastTOTPCodeAccepted string
}

// New returns a service.
func New(name, baseURL, smtpAddr, from string) *Service {
	return &Service{Name: name, BaseURL: baseURL, SMTPAddr: smtpAddr, From: from, users: map[string]*user{}, sessions: map[string]string{}}
}

var page = template.Must(template.New("p").Parse(`<!doctype html><html><head><title>{{.Title}}</title></head><body>
<h1>{{.Title}}</h1>{{if .Error}}<p id="error">{{.Error}}</p>{{end}}{{if .Body}}<p id="body">{{.Body}}</p>{{end}}
{{if .OTPAuth}}<p>Scan this QR code in your authenticator:</p><img id="totp-qr" src="/totp/qr.png" alt="TOTP QR code" width="256" height="256">
<p>Or enter this link by hand: <code id="otpauth">{{.OTPAuth}}</code></p>{{end}}
</body></html>`))

type view struct{ Title, Error, Body, OTPAuth string }

func render(w http.ResponseWriter, status int, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = page.Execute(w, v)
}

// Handler serves: POST /signup (email, password); POST /verify (email, code)
// or GET /verify?token=; GET/POST /totp/enroll (session; code);
// GET /totp/qr.png (session: the enrolment QR image);
// POST /login (email, password, code); GET /dashboard (session).
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		render(w, 200, view{Title: s.Name, Body: "POST /signup with email and password to create an account."})
	})
	mux.HandleFunc("POST /signup", s.signup)
	mux.HandleFunc("POST /verify", s.verify)
	mux.HandleFunc("GET /verify", s.verify)
	mux.HandleFunc("GET /totp/enroll", s.enrollPage)
	mux.HandleFunc("POST /totp/enroll", s.enroll)
	mux.HandleFunc("GET /totp/qr.png", s.enrollQR)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET /dashboard", s.dashboard)
	return mux
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomCode() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	return fmt.Sprintf("%06d", n.Int64())
}

func (s *Service) signup(w http.ResponseWriter, r *http.Request) {
	email, password := strings.ToLower(strings.TrimSpace(r.FormValue("email"))), r.FormValue("password")
	if !strings.Contains(email, "@") || len(password) < 12 {
		render(w, 400, view{Title: "Sign up", Error: "a valid email and a password of at least 12 characters are required"})
		return
	}
	u := &user{email: email, password: password, code: randomCode(), linkToken: randomToken(16), codeExpires: time.Now().Add(10 * time.Minute)}
	s.mu.Lock()
	if old, ok := s.users[email]; ok && old.verified {
		s.mu.Unlock()
		render(w, 409, view{Title: "Sign up", Error: "this email is already registered"})
		return
	}
	s.users[email] = u
	s.mu.Unlock()
	link := s.BaseURL + "/verify?token=" + u.linkToken
	body := fmt.Sprintf("Welcome to %s!\r\n\r\nYour verification code is %s. It expires in 10 minutes.\r\nOr confirm your email: %s\r\n\r\nQuestions? Call +1 415 555 0100.\r\n", s.Name, u.code, link)
	msg := fmt.Sprintf("From: %s <%s>\r\nTo: %s\r\nSubject: Verify your %s account\r\nMessage-ID: <%s@service.example>\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s",
		s.Name, s.From, email, s.Name, randomToken(8), time.Now().Format(time.RFC1123Z), body)
	if err := smtp.SendMail(s.SMTPAddr, nil, s.From, []string{email}, []byte(msg)); err != nil {
		render(w, 502, view{Title: "Sign up", Error: "could not send the verification email: " + err.Error()})
		return
	}
	render(w, 200, view{Title: "Check your email", Body: "We sent a verification code to " + email + "."})
}

func (s *Service) verify(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var u *user
	if tok := r.FormValue("token"); tok != "" {
		for _, c := range s.users {
			if c.linkToken == tok {
				u = c
			}
		}
	} else if c, ok := s.users[strings.ToLower(r.FormValue("email"))]; ok && c.code == strings.TrimSpace(r.FormValue("code")) {
		u = c
	}
	if u == nil || time.Now().After(u.codeExpires) {
		render(w, 400, view{Title: "Verify", Error: "wrong or expired code"})
		return
	}
	u.verified = true
	u.pendingSecret = ""
	key, _ := totp.Generate(totp.GenerateOpts{Issuer: s.Name, AccountName: u.email})
	u.pendingSecret = key.Secret()
	session := randomToken(16)
	s.sessions[session] = u.email
	http.SetCookie(w, &http.Cookie{Name: "session", Value: session, Path: "/", HttpOnly: true})
	render(w, 200, view{Title: "Email verified", Body: "Now set up two-factor authentication at /totp/enroll."})
}

func (s *Service) sessionUser(r *http.Request) *user {
	c, err := r.Cookie("session")
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if email, ok := s.sessions[c.Value]; ok {
		return s.users[email]
	}
	return nil
}

func (s *Service) enrollPage(w http.ResponseWriter, r *http.Request) {
	u := s.sessionUser(r)
	if u == nil || !u.verified {
		render(w, 401, view{Title: "Two-factor setup", Error: "verify your email first"})
		return
	}
	render(w, 200, view{Title: "Two-factor setup", Body: "Enter the current code to finish.", OTPAuth: s.otpauthURI(u)})
}

// otpauthURI is the enrolment's key, as the QR code and the page show it.
func (s *Service) otpauthURI(u *user) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=6&period=30",
		url.PathEscape(s.Name), url.PathEscape(u.email), u.pendingSecret, url.QueryEscape(s.Name))
}

// enrollQR serves the enrolment's QR code as a PNG, as sites show it.
func (s *Service) enrollQR(w http.ResponseWriter, r *http.Request) {
	u := s.sessionUser(r)
	if u == nil || !u.verified {
		http.Error(w, "verify your email first", http.StatusUnauthorized)
		return
	}
	img, err := qrcode.Encode(s.otpauthURI(u), qrcode.Medium, 256)
	if err != nil {
		http.Error(w, "could not draw the QR code", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(img)
}

func (s *Service) enroll(w http.ResponseWriter, r *http.Request) {
	u := s.sessionUser(r)
	if u == nil || !u.verified || u.pendingSecret == "" {
		render(w, 401, view{Title: "Two-factor setup", Error: "verify your email first"})
		return
	}
	if !totp.Validate(strings.TrimSpace(r.FormValue("code")), u.pendingSecret) {
		render(w, 400, view{Title: "Two-factor setup", Error: "that code is not valid"})
		return
	}
	s.mu.Lock()
	u.totpSecret, u.totpEnrolled, u.pendingSecret = u.pendingSecret, true, ""
	s.mu.Unlock()
	render(w, 200, view{Title: "Two-factor enabled", Body: "Log in with your password and a code from now on."})
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	email := strings.ToLower(r.FormValue("email"))
	code := strings.TrimSpace(r.FormValue("code"))
	s.mu.Lock()
	u, ok := s.users[email]
	s.mu.Unlock()
	if !ok || !u.verified || u.password != r.FormValue("password") {
		render(w, 401, view{Title: "Log in", Error: "wrong email or password"})
		return
	}
	if !u.totpEnrolled || !totp.Validate(code, u.totpSecret) || code == u.lastTOTPCodeAccepted {
		render(w, 401, view{Title: "Log in", Error: "a valid, unused two-factor code is required"})
		return
	}
	session := randomToken(16)
	s.mu.Lock()
	u.lastTOTPCodeAccepted = code
	s.sessions[session] = u.email
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "session", Value: session, Path: "/", HttpOnly: true})
	render(w, 200, view{Title: "Logged in", Body: "Go to /dashboard."})
}

func (s *Service) dashboard(w http.ResponseWriter, r *http.Request) {
	u := s.sessionUser(r)
	if u == nil || !u.totpEnrolled {
		render(w, 401, view{Title: "Dashboard", Error: "log in first"})
		return
	}
	render(w, 200, view{Title: "Dashboard", Body: "Welcome " + u.email + ". Your plan: Free. Invoices due: none."})
}
