import { AdsStream } from './ads-stream.js';
import { TypeUrl, isFullStateType } from './resource-types.js';
import { setVersion } from './version.js';
import { sotwResponse } from './wire.js';
export class SotwStream extends AdsStream {
    protocol = 'sotw';
    requestName = 'DiscoveryRequest';
    handle(req, st, first) {
        const nonce = req.responseNonce;
        if (!first && nonce !== '' && nonce !== st.latestNonce)
            return; // stale: ignored, no reply
        if (nonce !== '' && nonce === st.latestNonce)
            this.ackOrNack(st, req);
        const requested = req.resourceNames.filter((n) => n !== '*');
        const before = new Set(st.names);
        if (first)
            st.wildcard = req.resourceNames.length === 0 || req.resourceNames.includes('*');
        else if (req.resourceNames.includes('*'))
            st.wildcard = true;
        else if (req.resourceNames.length > 0)
            st.wildcard = false;
        st.names.clear();
        for (const n of requested)
            st.names.add(n);
        if (first) {
            st.clientVersion = req.versionInfo || null;
        }
        else {
            for (const n of requested)
                if (!before.has(n))
                    st.forced.add(n);
            for (const n of st.forced)
                if (!st.subscribes(n))
                    st.forced.delete(n);
        }
    }
    /** A reconnecting proxy that already has the current version is not sent it again. */
    prepare(snap) {
        for (const st of this.types.values()) {
            if (st.clientVersion === null || st.lastSentVersion !== null)
                continue;
            const target = st.target(snap.type(st.typeUrl));
            if (versionOf(st, snap, target, false) === st.clientVersion) {
                for (const [name, r] of target) {
                    st.held.set(name, r.version);
                    st.heldResources.set(name, r);
                }
                st.lastSentVersion = st.clientVersion;
                st.lastAckedVersion = st.clientVersion;
            }
            st.clientVersion = null;
        }
    }
    pending(st, snap, deferRemovals) {
        const type = snap.type(st.typeUrl);
        const resources = st.target(type);
        let deferred = false;
        let defer = null;
        for (const [name, r] of st.heldResources) {
            if (resources.has(name) || !st.subscribes(name))
                continue;
            defer ??= deferRemovals();
            if (!defer)
                break;
            resources.set(name, r); // keep it until nothing references it
            deferred = true;
        }
        const version = versionOf(st, snap, resources, deferred);
        const forced = [...st.forced].some((n) => resources.has(n));
        if (version === st.lastSentVersion && !forced)
            return null;
        // CDS/LDS are answered even when empty (a first response is awaited); an empty RDS/EDS/SDS
        // response tells the proxy nothing, so wait for the names to appear.
        if (resources.size === 0 && !isFullStateType(st.typeUrl))
            return null;
        return { version, resources };
    }
    send(st, plan, snap) {
        const changed = [];
        for (const [name, r] of plan.resources)
            if (st.held.get(name) !== r.version)
                changed.push(r);
        st.held.clear();
        st.heldResources.clear();
        for (const [name, r] of plan.resources) {
            st.held.set(name, r.version);
            st.heldResources.set(name, r);
        }
        st.forced.clear();
        this.write(st, plan.version, (nonce) => sotwResponse(st.typeUrl, plan.version, nonce, plan.resources.values()));
        if (st.typeUrl === TypeUrl.Cluster)
            this.forceEndpointsOf(changed, snap);
    }
}
function versionOf(st, snap, resources, deferred) {
    return st.wildcard && !deferred ? snap.type(st.typeUrl).version : setVersion(resources.values());
}
//# sourceMappingURL=sotw-stream.js.map