"""Merge one device run (our bench --json output and torch_peer.py output, taken in the
same command) into the records of benches/results/<device>.json.

usage: python3 benches/merge_results.py OURS.jsonl TORCH.jsonl COMMIT DATE > out.json

OURS.jsonl comes from examples/bench.rs --json (Vulkan) or examples/bench_cuda.rs (CUDA,
which has no copy kernel of its own: its memory-bound figures compare with torch's copy).
Vulkan runs may concatenate a run on tensor cores (variants `…_coop`) and one with
RRS_COOP_MATRIX=0 (dp4a), so that each tensor-core figure is also compared with its twin.

Every record: bench, variant, m, n, k, ours_ms, peer, peer_ms, ratio (peer_ms / ours_ms,
above 1 means we are faster), commit, date, note. For memory-bound kernels the peer is
a copy of the same number of bytes: the copy's time is scaled by (bytes we move) /
(bytes the copy moved), so that the ratio is our bandwidth over the copy's.
"""
import json
import sys

ours = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
torch = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
commit, date = sys.argv[3], sys.argv[4]
out = []


def find(rows, **kw):
    for r in rows:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


def rec(o, peer, peer_ms, note=""):
    out.append({
        "bench": o["bench"], "variant": o["variant"], "m": o["m"], "n": o["n"], "k": o["k"],
        "ours_ms": round(o["ms"], 6), "peer": peer, "peer_ms": round(peer_ms, 6),
        "ratio": round(peer_ms / o["ms"], 4), "commit": commit, "date": date, "note": note,
    })


def dp4a_twin(o):
    """A tensor-core variant (`…_coop`) against the same variant on dp4a, where the run has
    both (OURS.jsonl may hold a bench run with RRS_COOP_MATRIX=0 too)."""
    if o["variant"].endswith("_coop"):
        twin = find(ours, bench=o["bench"], variant=o["variant"][:-len("_coop")], m=o["m"], n=o["n"], k=o["k"])
        if twin:
            rec(o, "rrs_dp4a", twin["ms"], "the same GEMM on dot4I8Packed (RRS_COOP_MATRIX=0), same command")


for i, o in enumerate(ours):
    b, m, n, k = o["bench"], o["m"], o["n"], o["k"]
    if b in ("hadamard", "quantize", "channel_max"):
        if o["variant"].startswith("f16") or o["variant"].endswith("_f16"):
            # f16 rows: peer the torch copy of the same f16 tensor (2·m·k·2 bytes moved).
            tcopy = find(torch, peer="copy_f16", m=m, k=k)
            if tcopy:
                rec(o, "torch_copy", tcopy["ms"] * o["bytes"] / (4 * m * k),
                    f"torch f16 copy time for the same {o['bytes']:.0f} bytes")
            continue
        copy = find(ours, bench="copy", variant="f32", m=m, k=k)
        tcopy = find(torch, peer="copy_f32", m=m, k=k)
        # The torch copy moves 2·m·k·4 bytes (read + write of an [m, k] f32 tensor).
        scale = o["bytes"] / (copy["bytes"] if copy else 8 * m * k)
        if copy:
            rec(o, "wgsl_copy", copy["ms"] * scale, f"copy time for the same {o['bytes']:.0f} bytes")
        if tcopy:
            rec(o, "torch_copy", tcopy["ms"] * scale, f"torch copy time for the same {o['bytes']:.0f} bytes")
    elif b == "permute":
        # Packed weights read and written once (n·k bytes); torch copies n·k/2 bytes (n·k moved).
        t = find(torch, peer="copy_bytes", n=n, k=k)
        if t:
            rec(o, "torch_copy", t["ms"] * o["bytes"] / (n * k), f"torch copy time for the same {o['bytes']:.0f} bytes")
    elif b == "decode":
        dp4a_twin(o)
        copy = find(ours, bench="copy", variant="packed_weights", n=n, k=k)
        # The copy moves the packed weights twice (read + write); decode reads them once.
        if copy:
            rec(o, "wgsl_copy", copy["ms"] * o["bytes"] / copy["bytes"], "copy time for the packed weight bytes")
        for peer in ("matmul_f16",):
            t = find(torch, peer=peer, m=m, n=n, k=k)
            if t:
                rec(o, "torch_" + peer.replace("matmul_", ""), t["ms"])
    elif b == "gemm":
        dp4a_twin(o)
        # Tensor-core variants (`…_coop`) against the tensor-core plain GEMM.
        base = "plain_coop" if o["variant"].endswith("_coop") else "plain"
        plain = find(ours, bench="gemm", variant=base, m=m, n=n, k=k)
        if o["variant"] != base and plain:
            rec(o, "rrs_gemm_plain", plain["ms"], "our plain A4W4 GEMM, same run")
        for peer in ("matmul_f32", "matmul_f16", "int_mm"):
            t = find(torch, peer=peer, m=m, n=n, k=k)
            if t:
                name = {"matmul_f32": "torch_f32_no_tf32", "matmul_f16": "torch_f16", "int_mm": "torch_int_mm"}[peer]
                rec(o, name, t["ms"])
    elif b == "rrs_linear":
        if o["variant"] == "plain_gemm":
            continue
        # The plain GEMM timed last before this layer (a section may run more than once).
        plain = find(reversed(ours[:i]), bench="rrs_linear", variant="plain_gemm", m=m, n=n, k=k)
        rec(o, "rrs_gemm_plain", plain["ms"], "our plain A4W4 GEMM alone, same process, interleaved")
        t = find(torch, peer="matmul_f16", m=m, n=n, k=k)
        if t:
            rec(o, "torch_f16", t["ms"])

json.dump(out, sys.stdout, indent=1)
print()
