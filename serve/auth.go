package serve

// Who may talk to the server.
//
// Token. With Config.Token set, the API (/v1/...) and /metrics need it;
// the page's files and /healthz do not (the page holds no data, and
// probes carry no secrets). HTTP clients send
//
//	Authorization: Bearer TOKEN
//
// A browser cannot set headers on a WebSocket, so /v1/stream also takes
// the token as a subprotocol: the client offers the two subprotocols
// "residual" and "bearer." + base64url(TOKEN) (RFC 4648 §5, no padding:
// a subprotocol must be an HTTP token), and the server selects
// "residual" (never echoing the token). The token is never read from the
// URL, which ends up in logs and browser history. The page takes it once
// from the URL fragment (http://host/#token=TOKEN; the fragment is not
// sent to the server), keeps it in sessionStorage and removes it from the
// address bar; without one it asks when the API answers 401. Tokens are
// compared in constant time (SHA-256 of both, then
// subtle.ConstantTimeCompare, so the length does not leak either).
//
// Host allow-list. A page on another site can reach a server on
// 127.0.0.1 through DNS rebinding (its own name re-resolved to
// 127.0.0.1): the browser then treats the server as that site, Origin
// checks included. The Host header still carries the attacker's name,
// so the server answers 421 to any Host not in Config.AllowedHosts
// (/healthz and /readyz excepted: probes carry no data and orchestrators
// send them to the pod's IP). IP
// literals are only allowed when listed, like names; "*.example.com"
// allows the subdomains, "*" any Host. When the list is empty, Run on a
// loopback address allows the loopback names (localhost, *.localhost,
// 127.0.0.0/8, ::1) and Handler allows any Host.

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// streamSubprotocol is the subprotocol the server selects on /v1/stream.
const streamSubprotocol = "residual"

// tokenSubprotocolPrefix starts the subprotocol carrying the token.
const tokenSubprotocolPrefix = "bearer."

// TokenSubprotocol is the WebSocket subprotocol that carries token to
// /v1/stream (offer it together with "residual").
func TokenSubprotocol(token string) string {
	return tokenSubprotocolPrefix + base64.RawURLEncoding.EncodeToString([]byte(token))
}

// requestToken is the token a request carries: the bearer credentials of
// its Authorization header, or its token subprotocol.
func requestToken(r *http.Request) (string, bool) {
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, cred, ok := strings.Cut(a, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(cred), true
		}
		return "", false
	}
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			p = strings.TrimSpace(p)
			if enc, ok := strings.CutPrefix(p, tokenSubprotocolPrefix); ok {
				b, err := base64.RawURLEncoding.DecodeString(enc)
				if err != nil {
					return "", false
				}
				return string(b), true
			}
		}
	}
	return "", false
}

// needsToken says which paths the token guards: the API and the metrics.
func needsToken(path string) bool {
	return strings.HasPrefix(path, "/v1/") || path == "/metrics"
}

// checkToken reports whether r carries the server's token (always true
// without one).
func (s *Server) checkToken(r *http.Request) bool {
	if s.tokenHash == nil {
		return true
	}
	got, ok := requestToken(r)
	if !ok {
		return false
	}
	h := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) == 1
}

// hostList is a Host allow-list; nil allows any Host.
type hostList struct {
	any      bool
	names    map[string]bool // lower case, IPv6 without brackets
	suffixes []string        // ".example.com" from "*.example.com"
	loopback bool            // any loopback IP literal
}

// parseHosts builds the allow-list of Config.AllowedHosts (nil when
// empty: no check).
func parseHosts(list []string) (*hostList, error) {
	if len(list) == 0 {
		return nil, nil
	}
	h := &hostList{names: map[string]bool{}}
	for _, e := range list {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "*":
			h.any = true
		case strings.HasPrefix(e, "*."):
			h.suffixes = append(h.suffixes, e[1:])
		case e == "" || strings.ContainsAny(e, "/:@ ") && !isIPv6(e):
			return nil, fmt.Errorf("serve: allowed host %q: want a host name or IP without port or scheme, *.domain or *", e)
		default:
			h.names[strings.Trim(e, "[]")] = true
		}
	}
	return h, nil
}

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return err == nil && a.Is6()
}

// loopbackHosts allows the names a browser uses for this machine.
func loopbackHosts() *hostList {
	return &hostList{names: map[string]bool{"localhost": true}, suffixes: []string{".localhost"}, loopback: true}
}

// allows reports whether the Host header hostport is on the list.
func (h *hostList) allows(hostport string) bool {
	if h == nil || h.any {
		return true
	}
	host := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		host = hh
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if h.names[host] {
		return true
	}
	for _, s := range h.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	if a, err := netip.ParseAddr(host); err == nil && h.loopback && a.IsLoopback() {
		return true
	}
	return false
}

// isProbe says whether path is a health probe, which carries no data and
// is served whatever the Host (orchestrators' probes send the pod's IP).
func isProbe(path string) bool { return path == "/healthz" || path == "/readyz" }

// guard answers the requests that are not allowed in: 421 for a Host
// off the list, 401 without the token where it is needed. Both are
// counted in residual_rejected_total.
func (s *Server) guard(hosts *hostList, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hosts.allows(r.Host) && !isProbe(r.URL.Path) {
			s.metrics.rejected.WithLabelValues("host").Inc()
			s.writeError(w, r, errorf(http.StatusMisdirectedRequest, "Host %q is not served here (see --allowed-hosts)", r.Host))
			return
		}
		if needsToken(r.URL.Path) && !s.checkToken(r) {
			s.metrics.rejected.WithLabelValues("unauthorized").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="residual"`)
			msg := "missing or wrong token: send Authorization: Bearer TOKEN"
			if r.URL.Path == "/v1/stream" {
				msg += ` (WebSocket: offer the subprotocols "residual" and "bearer." + base64url(TOKEN))`
			}
			s.writeError(w, r, errorf(http.StatusUnauthorized, "%s", msg))
			return
		}
		next.ServeHTTP(w, r)
	})
}
