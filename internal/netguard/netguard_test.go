package netguard

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPublic(t *testing.T) {
	for _, a := range []string{
		"127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1", "169.254.169.254",
		"0.0.0.0", "100.64.0.1", "224.0.0.1", "239.255.255.250", "255.255.255.255", "192.0.2.1", "198.51.100.7",
		"203.0.113.5", "198.18.0.1", "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2001:db8::1", "2002:a00:1::1",
	} {
		require.False(t, Public(netip.MustParseAddr(a)), a)
	}
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"} {
		require.True(t, Public(netip.MustParseAddr(a)), a)
	}
}

func TestCheckURL(t *testing.T) {
	ctx := context.Background()
	r := net.DefaultResolver
	for raw, want := range map[string]string{
		"https://8.8.8.8/hook":           "",
		"https://[2606:4700::1111]/hook": "",
		"http://8.8.8.8/hook":            "https",
		"ftp://8.8.8.8/":                 "https",
		"/relative":                      "absolute",
		"https://user:pw@8.8.8.8/":       "credentials",
		"https://127.0.0.1/":             "not a public address",
		"https://10.1.2.3:8443/":         "not a public address",
		"https://[::1]/":                 "not a public address",
		"https://169.254.169.254/latest": "not a public address",
		"https://localhost/":             "localhost",
		"https://api.localhost/":         "localhost",
		"https://localhost./":            "localhost",
		"https://127.1/":                 "127.0.0.1 is not a public address",
		"https://2130706433/":            "127.0.0.1 is not a public address",
		"https://0x7f000001/":            "127.0.0.1 is not a public address",
		"https://017700000001/":          "127.0.0.1 is not a public address",
		"https://0177.0.0.1/":            "127.0.0.1 is not a public address",
		"https://10.258/":                "10.0.1.2 is not a public address",
		"https://134744072/":             "", // 8.8.8.8
		"https://1.2.3.08/":              "not a valid IPv4 address",
		"https://8.8.8.8./hook":          "",
		"https://[::ffff:8.8.8.8]/":      "",
		"https://[::ffff:127.0.0.1]/":    "127.0.0.1 is not a public address",
		"https://[64:ff9b::8.8.8.8]/":    "is not a public address",
	} {
		got := CheckURL(ctx, raw, false, r)
		if want == "" {
			require.Empty(t, got, raw)
		} else {
			require.True(t, strings.Contains(got, want), "%s: %q", raw, got)
		}
	}
	require.Empty(t, CheckURL(ctx, "http://127.0.0.1:9000/hook", true, r), "development lifts the checks")
}

func TestControlRefusesNonPublicDials(t *testing.T) {
	require.ErrorIs(t, Control("tcp", "127.0.0.1:443", nil), ErrNotPublic)
	require.ErrorIs(t, Control("tcp", "[fe80::1]:443", nil), ErrNotPublic)
	require.NoError(t, Control("tcp", "8.8.8.8:443", nil))
}
