// Package netguard keeps outgoing requests (webhook deliveries) away from
// the server's own network: only public unicast addresses may be dialled.
// A URL is checked when it is saved, and the address actually dialled is
// checked again at each connection, so that a name that later resolves to
// a private address (DNS rebinding) is refused too.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrNotPublic is an address outside the public internet.
var ErrNotPublic = errors.New("not a public address")

// nonPublic are the ranges that are not the public internet beyond the
// classes netip names (loopback, private, link-local, multicast,
// unspecified): shared address space, benchmarking, documentation,
// 6to4 relays, reserved and the IPv4-embedding IPv6 prefixes whose
// embedded address could be private.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.88.99.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001::/23"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),
	netip.MustParsePrefix("fc00::/7"),
}

// Public reports whether ip is a public unicast address.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// CheckURL checks a webhook URL when it is saved: absolute, https (http
// too when allowPrivate), no credentials, and a host that is not a
// non-public address. A name is resolved and every address it has must be
// public; a name that does not resolve now is let through (it is checked
// again when dialled). It answers a message for the client, or "".
func CheckURL(ctx context.Context, raw string, allowPrivate bool, resolver *net.Resolver) string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "an absolute URL such as https://example.com/hooks/taskd"
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowPrivate:
	default:
		return "the URL must use https"
	}
	if u.User != nil {
		return "credentials in the URL are not allowed"
	}
	if allowPrivate {
		return ""
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if !Public(ip) {
			return fmt.Sprintf("%s is not a public address (loopback, private, link-local, multicast and reserved addresses are refused)", ip)
		}
		return ""
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return "localhost is not a public address"
	}
	addrs, err := resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if !Public(a) {
			return fmt.Sprintf("%s resolves to %s, which is not a public address", host, a.Unmap())
		}
	}
	return ""
}

// Control is a net.Dialer Control function that refuses to connect to a
// non-public address: the check against the address actually dialled.
func Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return err
	}
	if !Public(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrNotPublic, ap.Addr().Unmap())
	}
	return nil
}
