// Command freeport prints N port numbers that are free on 127.0.0.1 for both
// TCP and UDP right now, as the kernel hands them out. Scripts use it to
// start daemons on loopback without fixed ports.
//
//	go run ./scripts/freeport [-n N]
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
)

func main() {
	n := flag.Int("n", 1, "how many distinct ports")
	flag.Parse()
	ports, err := free(*n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "freeport:", err)
		os.Exit(1)
	}
	fmt.Println(strings.Join(ports, " "))
}

// free returns n distinct ports; each was bound for TCP and UDP at once, and
// all stay bound until every one is found, so they differ.
func free(n int) ([]string, error) {
	var held []func()
	defer func() {
		for _, c := range held {
			c()
		}
	}()
	var ports []string
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100 {
			return nil, fmt.Errorf("no free TCP+UDP port pair on 127.0.0.1 after %d tries", tries)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		held = append(held, func() { ln.Close() })
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // UDP side taken: keep the TCP one held and try another
		}
		held = append(held, func() { pc.Close() })
		ports = append(ports, fmt.Sprint(port))
	}
	return ports, nil
}
