// Package lab builds Peercam's NAT laboratory out of Linux network namespaces
// and the kernel's own NAT, and runs the real binaries in it:
//
//	          [pub]  the "internet": rendezvousd (signaling, STUN, TURN) on 198.18.0.1
//	         /     \                forwards between the two WAN links
//	198.18.1.2     198.18.2.2      WAN links: veth (delay and loss by netem) or a
//	     [ra]       [rb]           userspace delay line over TUN
//	 router A       router B       nftables: masquerade (cone) or masquerade random
//	 10.1.0.1       10.2.0.1       (symmetric); forward: ct established,related
//	     |             |           accept, LAN to WAN accept, everything else drop
//	   [cam]         [view]
//	 10.1.0.2       10.2.0.2
//	   camd        camview watch
//
// The public segment uses 198.18.0.0/15 (RFC 2544, benchmarking): it is
// private to these namespaces and never routed anywhere else. Our TURN relay
// refuses that range like every special range, so the lab's rendezvousd
// lists it in turn.allow_peers; without that, every relayed case would fail
// for a reason that has nothing to do with NAT.
//
// Router A and B are "cone" (port-preserving masquerade: endpoint-independent
// mapping, address-and-port-dependent filtering, i.e. a port-restricted cone)
// or "symmetric" (masquerade random: a new random port for every
// destination). Probe checks the mapping behaviour with STUN against two
// server ports, and CheckFiltering that the routers drop what nobody behind
// them asked for: without that rule, hole punching would "work" for the
// wrong reason. The forward chains count invalid and dropped packets (nft
// list ruleset in a router's namespace), for the post-mortem of a run.
//
// Delay and loss (SetPath) need netem on veth links; kernels built without
// sch_netem (some cloud and CI VMs) get WAN links made of two TUN devices
// with the lab's own userspace delay line between them, whose lateness on a
// busy machine Lateness reports.
//
// Every namespace of a lab is named Prefix-<role>, with a prefix unique to
// the process and the lab (pcl-<pid>-<n>), so two labs never collide; Close
// stops the processes and deletes the namespaces, and Clean removes those
// left behind by a lab whose process died. Building a lab needs root (or
// CAP_NET_ADMIN and CAP_SYS_ADMIN), ip(8) from iproute2 and nft(8).
package lab
