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
	"strconv"
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
	host := strings.TrimSuffix(u.Hostname(), ".") // "localhost." is localhost
	if !strings.Contains(host, ":") {             // an IPv6 literal is read as one below
		if ip, ok := ipv4Shorthand(host); ok {
			host = ip.String()
		} else if endsInNumber(host) {
			return host + " is not a valid IPv4 address"
		}
	}
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

// ipv4Shorthand reads the IPv4 forms that browsers, curl and the C
// library's inet_aton accept besides the dotted quad, so that no spelling
// of a loopback or private address passes the check: 127.1, 2130706433,
// 0x7f000001, 0177.0.0.1 (the WHATWG URL standard's IPv4 parser: one to
// four parts, each decimal, 0x hexadecimal or 0-led octal, the last
// filling the remaining bytes).
func ipv4Shorthand(host string) (netip.Addr, bool) {
	parts := strings.Split(host, ".")
	if len(parts) == 0 || len(parts) > 4 {
		return netip.Addr{}, false
	}
	var nums []uint64
	for _, p := range parts {
		n, ok := ipv4Part(p)
		if !ok {
			return netip.Addr{}, false
		}
		nums = append(nums, n)
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false
	}
	v := last
	for i, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false
		}
		v |= n << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

func ipv4Part(p string) (uint64, bool) {
	base := 10
	switch {
	case len(p) > 1 && (strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X")):
		p, base = p[2:], 16
		if p == "" {
			return 0, true
		}
	case len(p) > 1 && p[0] == '0':
		p, base = p[1:], 8
	}
	n, err := strconv.ParseUint(p, base, 32)
	return n, err == nil
}

// endsInNumber is the URL standard's test for a host meant as an IPv4
// address: its last label is a number. Such a host that ipv4Shorthand
// cannot read is no name either.
func endsInNumber(host string) bool {
	labels := strings.Split(host, ".")
	last := labels[len(labels)-1]
	if last == "" {
		return false
	}
	if _, ok := ipv4Part(last); ok {
		return true
	}
	return strings.Trim(last, "0123456789") == ""
}
