// Command peer is the reference ADS server of the fan-out benchmark: go-control-plane's
// SnapshotCache served over SotW and Delta ADS. It speaks the same line protocol on stdin/stdout
// as bench/fanout/meshgate-server.ts:
//
//	init <resource file> <node prefix> <count>   load the resources, set a snapshot for every node
//	apply <event id> <resource file>             upsert the file's resources, set every node's snapshot
//	quit
//
// Replies are JSON lines; times are Unix nanoseconds.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/log"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"meshgate.local/bench/internal/resfile"
)

type stored struct {
	msg   types.Resource
	bytes []byte
}

type peer struct {
	cache    cache.SnapshotCache
	byType   map[string]map[string]stored
	versions map[string]string
	nodes    []string
}

var out = json.NewEncoder(os.Stdout)

func reply(v map[string]any) { _ = out.Encode(v) }

func fail(format string, args ...any) {
	reply(map[string]any{"ev": "error", "message": fmt.Sprintf(format, args...)})
}

func newMessage(typeURL string) (proto.Message, error) {
	switch typeURL {
	case resource.ClusterType:
		return &cluster.Cluster{}, nil
	case resource.EndpointType:
		return &endpoint.ClusterLoadAssignment{}, nil
	case resource.ListenerType:
		return &listener.Listener{}, nil
	case resource.RouteType:
		return &route.RouteConfiguration{}, nil
	}
	return nil, fmt.Errorf("unsupported type URL %q", typeURL)
}

// upsert decodes a resource file into the peer's resource maps; it returns the types it touched.
func (p *peer) upsert(path string) (map[string]bool, error) {
	entries, err := resfile.Read(path)
	if err != nil {
		return nil, err
	}
	touched := map[string]bool{}
	for _, e := range entries {
		m, err := newMessage(e.Type)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, e.Name, err)
		}
		if err := proto.Unmarshal(e.Bytes, m); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, e.Name, err)
		}
		if p.byType[e.Type] == nil {
			p.byType[e.Type] = map[string]stored{}
		}
		p.byType[e.Type][e.Name] = stored{msg: m, bytes: e.Bytes}
		touched[e.Type] = true
	}
	return touched, nil
}

// snapshot builds one snapshot with a content-derived version per type (a type whose content did
// not change keeps its version, so its SotW watches are not answered again).
func (p *peer) snapshot(touched map[string]bool) (*cache.Snapshot, error) {
	snap := &cache.Snapshot{}
	for typeURL, byName := range p.byType {
		names := make([]string, 0, len(byName))
		for n := range byName {
			names = append(names, n)
		}
		sort.Strings(names)
		items := make([]types.Resource, 0, len(names))
		var h [32]byte
		hasher := sha256.New()
		for _, n := range names {
			s := byName[n]
			items = append(items, s.msg)
			if touched[typeURL] {
				h = sha256.Sum256(s.bytes)
				hasher.Write([]byte(n))
				hasher.Write([]byte{0})
				hasher.Write(h[:])
			}
		}
		if touched[typeURL] {
			p.versions[typeURL] = hex.EncodeToString(hasher.Sum(nil))[:16]
		}
		idx := cache.GetResponseType(typeURL)
		if idx == types.UnknownType {
			return nil, fmt.Errorf("unknown type %s", typeURL)
		}
		snap.Resources[idx] = cache.NewResources(p.versions[typeURL], items)
	}
	return snap, nil
}

func (p *peer) setAll(snap *cache.Snapshot) error {
	ctx := context.Background()
	for _, n := range p.nodes {
		if err := p.cache.SetSnapshot(ctx, n, snap); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address host:port")
	flag.Parse()

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "peer: cannot listen on %s: %v\n", *addr, err)
		os.Exit(1)
	}
	snapCache := cache.NewSnapshotCache(true, cache.IDHash{}, log.LoggerFuncs{})
	xds := server.NewServer(context.Background(), snapCache, nil)
	g := grpc.NewServer(
		grpc.MaxRecvMsgSize(256<<20),
		grpc.MaxSendMsgSize(256<<20),
		grpc.MaxConcurrentStreams(1<<20),
	)
	discovery.RegisterAggregatedDiscoveryServiceServer(g, xds)
	go func() { _ = g.Serve(lis) }()

	p := &peer{cache: snapCache, byType: map[string]map[string]stored{}, versions: map[string]string{}}
	reply(map[string]any{"ev": "ready", "port": lis.Addr().(*net.TCPAddr).Port, "pid": os.Getpid()})

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<16), 1<<20)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "init":
			if len(f) != 4 {
				fail("usage: init <file> <node prefix> <count>")
				continue
			}
			count, err := strconv.Atoi(f[3])
			if err != nil || count < 1 {
				fail("init: bad node count %q", f[3])
				continue
			}
			touched, err := p.upsert(f[1])
			if err != nil {
				fail("init: %v", err)
				continue
			}
			p.nodes = p.nodes[:0]
			for i := 0; i < count; i++ {
				p.nodes = append(p.nodes, f[2]+strconv.Itoa(i))
			}
			snap, err := p.snapshot(touched)
			if err == nil {
				err = p.setAll(snap)
			}
			if err != nil {
				fail("init: %v", err)
				continue
			}
			reply(map[string]any{"ev": "initialized", "nodes": count})
		case "apply":
			if len(f) != 3 {
				fail("usage: apply <event id> <file>")
				continue
			}
			touched, err := p.upsert(f[2])
			if err != nil {
				fail("apply: %v", err)
				continue
			}
			t0 := time.Now().UnixNano()
			snap, err := p.snapshot(touched)
			if err == nil {
				err = p.setAll(snap)
			}
			t1 := time.Now().UnixNano()
			if err != nil {
				fail("apply: %v", err)
				continue
			}
			reply(map[string]any{"ev": "applied", "id": f[1], "t0": t0, "t1": t1})
		case "quit":
			g.Stop()
			reply(map[string]any{"ev": "bye"})
			return
		default:
			fail("unknown command %q", f[0])
		}
	}
	g.Stop()
}
