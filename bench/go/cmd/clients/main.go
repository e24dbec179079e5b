// Command clients runs K ADS clients in one process for the fan-out benchmark. Each client behaves
// like an Envoy on ADS: CDS and LDS wildcard, EDS for every cluster it got, RDS for the route names
// its listeners use, and an ACK for every response. Responses are parsed just enough to track names
// (the resource bytes stay as received). Commands on stdin, JSON-line replies on stdout, times in
// Unix nanoseconds:
//
//	start <addr> <sotw|delta> <count> <node prefix> <timeout ms>   connect, wait until all are synced
//	expect <event id> <resource file> <port> <timeout ms>   wait until every client ACKed a response in
//	                                    which each ClusterLoadAssignment of the file has an endpoint on <port>
//	reconnect <event id> <timeout ms>   close every stream and connection, connect again with no state
//	digest                              digests of what client 0 holds
//	filedigest <resource file>...       digests of the resources of the files (later entries replace earlier)
//	quit
//
// Digests are sha256 over the sorted lines "<type URL>\t<name>\t<sha256 of the bytes>\n": "raw" over
// the bytes as received, "canonical" over their deterministic Go re-encoding (the same content
// encoded with fields in another order gives the same canonical digest).
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"meshgate.local/bench/internal/resfile"
)

const (
	sotwMethod  = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
	deltaMethod = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
)

// rawCodec marshals requests as protobuf and keeps responses as raw bytes.
type rawCodec struct{}

type rawMsg struct{ b []byte }

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) ([]byte, error) {
	return proto.Marshal(v.(proto.Message))
}
func (rawCodec) Unmarshal(data []byte, v any) error {
	m := v.(*rawMsg)
	m.b = append(m.b[:0:0], data...)
	return nil
}

var out = json.NewEncoder(os.Stdout)
var outMu sync.Mutex

func reply(v map[string]any) {
	outMu.Lock()
	defer outMu.Unlock()
	_ = out.Encode(v)
}

type expectation struct {
	id   string
	want map[string]bool
	port uint64
}

type report struct {
	kind string // "synced" | "event" | "error"
	id   string
	t    int64
	msg  string
}

var (
	current    atomic.Pointer[expectation]
	bytesRecv  atomic.Int64
	generation atomic.Int64
	reports    = make(chan report, 1<<16)
)

// each calls fn for every field of a protobuf message; v is the payload of length-delimited fields.
func each(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		fn(num, typ, v)
		b = b[n:]
	}
	return nil
}

// nameOf reads field 1 (name / cluster_name) of a Cluster, ClusterLoadAssignment, Listener or RouteConfiguration.
func nameOf(value []byte) string {
	name := ""
	_ = each(value, func(num protowire.Number, typ protowire.Type, v []byte) {
		if num == 1 && typ == protowire.BytesType && name == "" {
			name = string(v)
		}
	})
	return name
}

type res struct {
	name  string
	value []byte
}

type response struct {
	version, typeURL, nonce string
	resources               []res
	removed                 []string
}

// parse reads a DiscoveryResponse (delta=false) or DeltaDiscoveryResponse (delta=true).
func parse(b []byte, delta bool) (response, error) {
	var r response
	var inner error
	err := each(b, func(num protowire.Number, typ protowire.Type, v []byte) {
		switch num {
		case 1:
			r.version = string(v)
		case 4:
			r.typeURL = string(v)
		case 5:
			r.nonce = string(v)
		case 6:
			if delta {
				r.removed = append(r.removed, string(v))
			}
		case 2:
			anyBytes := v
			name := ""
			if delta {
				anyBytes = nil
				inner = each(v, func(n2 protowire.Number, _ protowire.Type, v2 []byte) {
					switch n2 {
					case 2:
						anyBytes = v2
					case 3:
						name = string(v2)
					}
				})
			}
			var value []byte
			_ = each(anyBytes, func(n2 protowire.Number, _ protowire.Type, v2 []byte) {
				if n2 == 2 {
					value = v2
				}
			})
			if name == "" {
				name = nameOf(value)
			}
			r.resources = append(r.resources, res{name: name, value: value})
		}
	})
	if err == nil {
		err = inner
	}
	return r, err
}

// hasPort reports whether a ClusterLoadAssignment has an endpoint whose socket address uses port
// (endpoints 2 → lb_endpoints 2 → endpoint 1 → address 1 → socket_address 1 → port_value 3).
func hasPort(cla []byte, port uint64) bool {
	path := []protowire.Number{2, 2, 1, 1, 1}
	found := false
	var descend func(b []byte, depth int)
	descend = func(b []byte, depth int) {
		if depth == len(path) {
			found = found || portValue(b) == port
			return
		}
		_ = each(b, func(num protowire.Number, typ protowire.Type, v []byte) {
			if !found && num == path[depth] && typ == protowire.BytesType {
				descend(v, depth+1)
			}
		})
	}
	descend(cla, 0)
	return found
}

// portValue reads SocketAddress.port_value (field 3, a varint); 0 when absent.
func portValue(b []byte) uint64 {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0
		}
		b = b[n:]
		if num == 3 && typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return 0
			}
			return v
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return 0
		}
		b = b[m:]
	}
	return 0
}

// routeNames returns the RDS route_config_name of every HTTP connection manager of a listener.
func routeNames(value []byte) []string {
	var l listener.Listener
	if err := proto.Unmarshal(value, &l); err != nil {
		return nil
	}
	var names []string
	for _, fc := range l.GetFilterChains() {
		for _, f := range fc.GetFilters() {
			tc := f.GetTypedConfig()
			if tc == nil {
				continue
			}
			var m hcm.HttpConnectionManager
			if tc.MessageIs(&m) && tc.UnmarshalTo(&m) == nil {
				if n := m.GetRds().GetRouteConfigName(); n != "" {
					names = append(names, n)
				}
			}
		}
	}
	return names
}

type client struct {
	idx      int
	node     string
	delta    bool
	gen      int64
	stream   grpc.ClientStream
	sentNode bool

	clusters, listeners      map[string]bool
	edsSub, rdsSub           map[string]bool
	edsHave, rdsHave         map[string]bool
	edsVersion, edsNonce     string
	rdsVersion, rdsNonce     string
	cdsAcked, ldsAcked, done bool

	evID      string
	evMatched map[string]bool
	evDone    bool

	held map[string]map[string][]byte // client 0 only: what it holds, as received
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (c *client) node0() *core.Node {
	if c.sentNode {
		return nil
	}
	c.sentNode = true
	return &core.Node{Id: c.node, Cluster: "bench"}
}

func (c *client) sotw(typeURL, version, nonce string, names []string) error {
	return c.stream.SendMsg(&discovery.DiscoveryRequest{
		Node: c.node0(), TypeUrl: typeURL, VersionInfo: version, ResponseNonce: nonce, ResourceNames: names,
	})
}

func (c *client) deltaReq(typeURL, nonce string, sub, unsub []string) error {
	return c.stream.SendMsg(&discovery.DeltaDiscoveryRequest{
		Node: c.node0(), TypeUrl: typeURL, ResponseNonce: nonce,
		ResourceNamesSubscribe: sub, ResourceNamesUnsubscribe: unsub,
	})
}

// subscribe brings a SotW or Delta subscription (edsSub/rdsSub) to `want`.
func (c *client) subscribe(typeURL string, sub map[string]bool, want map[string]bool, version, nonce string) error {
	var add, del []string
	for n := range want {
		if !sub[n] {
			add = append(add, n)
		}
	}
	for n := range sub {
		if !want[n] {
			del = append(del, n)
		}
	}
	if len(add) == 0 && len(del) == 0 {
		return nil
	}
	for _, n := range add {
		sub[n] = true
	}
	for _, n := range del {
		delete(sub, n)
	}
	if c.delta {
		sort.Strings(add)
		sort.Strings(del)
		return c.deltaReq(typeURL, "", add, del)
	}
	return c.sotw(typeURL, version, nonce, sortedKeys(sub))
}

func (c *client) ack(r response) error {
	if c.delta {
		return c.deltaReq(r.typeURL, r.nonce, nil, nil)
	}
	var names []string
	switch r.typeURL {
	case resource.EndpointType:
		names = sortedKeys(c.edsSub)
	case resource.RouteType:
		names = sortedKeys(c.rdsSub)
	}
	return c.sotw(r.typeURL, r.version, r.nonce, names)
}

func (c *client) record(r response) {
	if c.held == nil {
		return
	}
	m := c.held[r.typeURL]
	if m == nil || (!c.delta && (r.typeURL == resource.ClusterType || r.typeURL == resource.ListenerType)) {
		m = map[string][]byte{}
		c.held[r.typeURL] = m
	}
	for _, x := range r.resources {
		m[x.name] = x.value
	}
	for _, n := range r.removed {
		delete(m, n)
	}
}

func (c *client) handle(r response) error {
	c.record(r)
	eventHit := false
	switch r.typeURL {
	case resource.ClusterType:
		if !c.delta {
			c.clusters = map[string]bool{}
		}
		for _, x := range r.resources {
			c.clusters[x.name] = true
		}
		for _, n := range r.removed {
			delete(c.clusters, n)
		}
		if err := c.subscribe(resource.EndpointType, c.edsSub, c.clusters, c.edsVersion, c.edsNonce); err != nil {
			return err
		}
		c.cdsAcked = true
	case resource.ListenerType:
		if !c.delta {
			c.listeners = map[string]bool{}
		}
		want := map[string]bool{}
		for _, x := range r.resources {
			c.listeners[x.name] = true
			for _, n := range routeNames(x.value) {
				want[n] = true
			}
		}
		for _, n := range r.removed {
			delete(c.listeners, n)
		}
		if err := c.subscribe(resource.RouteType, c.rdsSub, want, c.rdsVersion, c.rdsNonce); err != nil {
			return err
		}
		c.ldsAcked = true
	case resource.EndpointType:
		c.edsVersion, c.edsNonce = r.version, r.nonce
		for _, x := range r.resources {
			c.edsHave[x.name] = true
		}
		for _, n := range r.removed {
			delete(c.edsHave, n)
		}
		if e := current.Load(); e != nil && !(c.evID == e.id && c.evDone) {
			if c.evID != e.id {
				c.evID, c.evMatched, c.evDone = e.id, map[string]bool{}, false
			}
			for _, x := range r.resources {
				if e.want[x.name] && hasPort(x.value, e.port) {
					c.evMatched[x.name] = true
				}
			}
			if len(c.evMatched) == len(e.want) {
				c.evDone = true
				eventHit = true
			}
		}
	case resource.RouteType:
		c.rdsVersion, c.rdsNonce = r.version, r.nonce
		for _, x := range r.resources {
			c.rdsHave[x.name] = true
		}
		for _, n := range r.removed {
			delete(c.rdsHave, n)
		}
	}
	if err := c.ack(r); err != nil {
		return err
	}
	now := time.Now().UnixNano()
	if eventHit {
		reports <- report{kind: "event", id: c.evID, t: now}
	}
	if !c.done && c.cdsAcked && c.ldsAcked && len(c.edsSub) > 0 && covers(c.edsHave, c.edsSub) && covers(c.rdsHave, c.rdsSub) {
		c.done = true
		reports <- report{kind: "synced", t: now}
	}
	return nil
}

func covers(have, want map[string]bool) bool {
	for n := range want {
		if !have[n] {
			return false
		}
	}
	return true
}

func (c *client) run(ctx context.Context, conn *grpc.ClientConn) {
	method := sotwMethod
	if c.delta {
		method = deltaMethod
	}
	desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
	s, err := conn.NewStream(ctx, desc, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		c.fail(err)
		return
	}
	c.stream = s
	if c.delta {
		err = c.deltaReq(resource.ClusterType, "", nil, nil)
		if err == nil {
			err = c.deltaReq(resource.ListenerType, "", nil, nil)
		}
	} else {
		err = c.sotw(resource.ClusterType, "", "", nil)
		if err == nil {
			err = c.sotw(resource.ListenerType, "", "", nil)
		}
	}
	for err == nil {
		var m rawMsg
		if err = s.RecvMsg(&m); err != nil {
			break
		}
		bytesRecv.Add(int64(len(m.b)))
		var r response
		if r, err = parse(m.b, c.delta); err != nil {
			break
		}
		err = c.handle(r)
	}
	if ctx.Err() == nil {
		c.fail(err)
	}
}

func (c *client) fail(err error) {
	if generation.Load() == c.gen {
		reports <- report{kind: "error", msg: fmt.Sprintf("client %s: %v", c.node, err)}
	}
}

type fleet struct {
	cancel  context.CancelFunc
	conns   []*grpc.ClientConn
	clients []*client
	wg      sync.WaitGroup
}

func startFleet(addr string, delta bool, count int, prefix string) (*fleet, error) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fleet{cancel: cancel}
	gen := generation.Add(1)
	for i := 0; i < count; i++ {
		conn, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20), grpc.MaxCallSendMsgSize(256<<20)),
		)
		if err != nil {
			f.stop()
			return nil, err
		}
		c := &client{
			idx: i, node: prefix + strconv.Itoa(i), delta: delta, gen: gen,
			clusters: map[string]bool{}, listeners: map[string]bool{},
			edsSub: map[string]bool{}, rdsSub: map[string]bool{},
			edsHave: map[string]bool{}, rdsHave: map[string]bool{},
		}
		if i == 0 {
			c.held = map[string]map[string][]byte{}
		}
		f.conns = append(f.conns, conn)
		f.clients = append(f.clients, c)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			c.run(ctx, conn)
		}()
	}
	return f, nil
}

func (f *fleet) stop() {
	generation.Add(1)
	f.cancel()
	for _, c := range f.conns {
		_ = c.Close()
	}
	f.wg.Wait()
}

// waitFor collects `count` reports of a kind (and event id) or gives up at the deadline.
func waitFor(kind, id string, count int, timeout time.Duration) (first, last int64, n int, errs []string) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for n < count {
		select {
		case r := <-reports:
			switch {
			case r.kind == "error":
				if len(errs) < 5 {
					errs = append(errs, r.msg)
				}
			case r.kind == kind && r.id == id:
				n++
				if first == 0 || r.t < first {
					first = r.t
				}
				if r.t > last {
					last = r.t
				}
			}
		case <-deadline.C:
			return
		}
	}
	return
}

func drain() {
	for {
		select {
		case <-reports:
		default:
			return
		}
	}
}

func newMessage(typeURL string) proto.Message {
	switch typeURL {
	case resource.ClusterType:
		return &cluster.Cluster{}
	case resource.EndpointType:
		return &endpoint.ClusterLoadAssignment{}
	case resource.ListenerType:
		return &listener.Listener{}
	case resource.RouteType:
		return &route.RouteConfiguration{}
	}
	return nil
}

// canonical re-encodes a resource deterministically with Go's field order.
func canonical(typeURL string, b []byte) []byte {
	m := newMessage(typeURL)
	if m == nil || proto.Unmarshal(b, m) != nil {
		return append([]byte("undecodable:"), b...)
	}
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return append([]byte("unencodable:"), b...)
	}
	return out
}

func digests(held map[string]map[string][]byte) map[string]string {
	var raw, canon []string
	for t, m := range held {
		for n, b := range m {
			h := sha256.Sum256(b)
			raw = append(raw, t+"\t"+n+"\t"+hex.EncodeToString(h[:])+"\n")
			h = sha256.Sum256(canonical(t, b))
			canon = append(canon, t+"\t"+n+"\t"+hex.EncodeToString(h[:])+"\n")
		}
	}
	sum := func(lines []string) string {
		sort.Strings(lines)
		h := sha256.New()
		for _, l := range lines {
			h.Write([]byte(l))
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	return map[string]string{"raw": sum(raw), "canonical": sum(canon)}
}

// digest of what client 0 holds; only while no update is in flight (client 0 is not locked).
func (f *fleet) digest() map[string]string {
	return digests(f.clients[0].held)
}

func main() {
	var f *fleet
	var addr, prefix string
	var delta bool
	var count int
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		a := strings.Fields(in.Text())
		if len(a) == 0 {
			continue
		}
		switch a[0] {
		case "start", "reconnect":
			var timeoutMs int
			var err error
			id := ""
			if a[0] == "start" {
				if len(a) != 6 {
					reply(map[string]any{"ev": "error", "message": "usage: start <addr> <sotw|delta> <count> <node prefix> <timeout ms>"})
					continue
				}
				addr, delta, prefix = a[1], a[2] == "delta", a[4]
				count, err = strconv.Atoi(a[3])
				if err == nil {
					timeoutMs, err = strconv.Atoi(a[5])
				}
				if f != nil {
					f.stop()
					f = nil
				}
			} else {
				if len(a) != 3 || f == nil {
					reply(map[string]any{"ev": "error", "message": "usage: reconnect <event id> <timeout ms> (after start)"})
					continue
				}
				id = a[1]
				timeoutMs, err = strconv.Atoi(a[2])
				f.stop()
				f = nil
			}
			if err != nil {
				reply(map[string]any{"ev": "error", "message": err.Error()})
				continue
			}
			drain()
			b0 := bytesRecv.Load()
			t0 := time.Now().UnixNano() // after the old streams are gone
			f, err = startFleet(addr, delta, count, prefix)
			if err != nil {
				reply(map[string]any{"ev": "error", "message": err.Error()})
				continue
			}
			first, last, n, errs := waitFor("synced", "", count, time.Duration(timeoutMs)*time.Millisecond)
			ev := "synced"
			if n < count {
				ev = "timeout"
			}
			reply(map[string]any{"ev": ev, "id": id, "t0": t0, "first": first, "last": last, "count": n,
				"bytes": bytesRecv.Load() - b0, "errors": errs, "digest": f.digest()})
		case "expect":
			if len(a) != 5 || f == nil {
				reply(map[string]any{"ev": "error", "message": "usage: expect <event id> <file> <port> <timeout ms> (after start)"})
				continue
			}
			port, err1 := strconv.ParseUint(a[3], 10, 16)
			timeoutMs, err := strconv.Atoi(a[4])
			entries, err2 := resfile.Read(a[2])
			if err != nil || err1 != nil || err2 != nil {
				reply(map[string]any{"ev": "error", "message": fmt.Sprint(err, err1, err2)})
				continue
			}
			e := &expectation{id: a[1], want: map[string]bool{}, port: port}
			for _, x := range entries {
				if x.Type == resource.EndpointType {
					if !hasPort(x.Bytes, port) {
						reply(map[string]any{"ev": "error", "message": fmt.Sprintf("%s: %s has no endpoint on port %d", a[2], x.Name, port)})
						e = nil
						break
					}
					e.want[x.Name] = true
				}
			}
			if e == nil {
				continue
			}
			drain()
			b0 := bytesRecv.Load()
			current.Store(e)
			reply(map[string]any{"ev": "armed", "id": e.id})
			first, last, n, errs := waitFor("event", e.id, count, time.Duration(timeoutMs)*time.Millisecond)
			ev := "done"
			if n < count {
				ev = "timeout"
			}
			reply(map[string]any{"ev": ev, "id": e.id, "first": first, "last": last, "count": n,
				"bytes": bytesRecv.Load() - b0, "errors": errs})
		case "digest":
			if f == nil {
				reply(map[string]any{"ev": "error", "message": "digest before start"})
				continue
			}
			reply(map[string]any{"ev": "digest", "digest": f.digest()})
		case "filedigest":
			held := map[string]map[string][]byte{}
			var err error
			for _, path := range a[1:] {
				var entries []resfile.Entry
				if entries, err = resfile.Read(path); err != nil {
					break
				}
				for _, x := range entries {
					if held[x.Type] == nil {
						held[x.Type] = map[string][]byte{}
					}
					held[x.Type][x.Name] = x.Bytes
				}
			}
			if err != nil {
				reply(map[string]any{"ev": "error", "message": err.Error()})
				continue
			}
			reply(map[string]any{"ev": "digest", "digest": digests(held)})
		case "quit":
			if f != nil {
				f.stop()
			}
			reply(map[string]any{"ev": "bye"})
			return
		default:
			reply(map[string]any{"ev": "error", "message": "unknown command " + a[0]})
		}
	}
	if f != nil {
		f.stop()
	}
}
