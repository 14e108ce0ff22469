// Entry points that expose the field and point layers to the test suite (tests/gpu.rs), which checks
// them against big-integer arithmetic and curve25519-dalek. Not used by the node.

@group(0) @binding(4) var<storage, read> test_inputs: array<u32>;
@group(0) @binding(5) var<storage, read_write> test_outputs: array<u32>;

const FIELD_IN_WORDS: u32 = 16u;
const FIELD_OUT_WORDS: u32 = 64u;
const POINT_IN_WORDS: u32 = 32u;
const POINT_OUT_WORDS: u32 = 48u;

fn test_read(base: u32) -> array<u32, 8> {
    var w: array<u32, 8>;
    for (var i = 0u; i < 8u; i++) {
        w[i] = test_inputs[base + i];
    }
    return w;
}

fn test_write(base: u32, w: array<u32, 8>) {
    for (var i = 0u; i < 8u; i++) {
        test_outputs[base + i] = w[i];
    }
}

// Per case: a, b (32-byte strings). Out: a, a*b, a^2, a+b, a-b, -a, a^-1, a^((p-5)/8), each canonical.
@compute @workgroup_size(64)
fn field_ops(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= params.count) {
        return;
    }
    let a = fe_from_words(test_read(i * FIELD_IN_WORDS));
    let b = fe_from_words(test_read(i * FIELD_IN_WORDS + 8u));
    let o = i * FIELD_OUT_WORDS;
    test_write(o, fe_to_words(a));
    test_write(o + 8u, fe_to_words(fe_mul(a, b)));
    test_write(o + 16u, fe_to_words(fe_sq(a)));
    test_write(o + 24u, fe_to_words(fe_add(a, b)));
    test_write(o + 32u, fe_to_words(fe_sub(a, b)));
    test_write(o + 40u, fe_to_words(fe_neg(a)));
    test_write(o + 48u, fe_to_words(fe_invert(a)));
    test_write(o + 56u, fe_to_words(fe_pow_p58(a)));
}

// Per case: encodings of P and Q, scalars a and b (below 2^255).
// Out: flags (bit 0: P decoded, bit 1: Q decoded), then, when both decoded, compress(P), P + Q, P - Q,
// 2P, [a]P + [b]B.
@compute @workgroup_size(64)
fn point_ops(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= params.count) {
        return;
    }
    let base = i * POINT_IN_WORDS;
    let o = i * POINT_OUT_WORDS;
    // Both decompressions through one copy of the code (see `opaque`).
    var decoded: array<Fe, 8>;
    var flags = 0u;
    for (var j = 0u; j < opaque(2u); j++) {
        let d = decompress(test_read(base + 8u * j));
        flags |= select(0u, 1u << j, d.ok);
        decoded[4u * j] = d.p.x;
        decoded[4u * j + 1u] = d.p.y;
        decoded[4u * j + 2u] = d.p.z;
        decoded[4u * j + 3u] = d.p.t;
    }
    test_outputs[o] = flags;
    if (flags != 3u) {
        return;
    }
    let p = Decompressed(true, Ext(decoded[0], decoded[1], decoded[2], decoded[3]));
    let q = Decompressed(true, Ext(decoded[4], decoded[5], decoded[6], decoded[7]));
    let qc = ext_to_cached(q.p);
    // One copy of `compress` (an inversion) for the five results.
    for (var j = 0u; j < opaque(5u); j++) {
        // Separate field-element variables, not a struct `var` (see double_scalar_mul_base).
        var rx = p.p.x;
        var ry = p.p.y;
        var rz = p.p.z;
        var rt = p.p.t;
        if (j == 1u) {
            let e = ext_add(p.p, qc);
            rx = e.x; ry = e.y; rz = e.z; rt = e.t;
        } else if (j == 2u) {
            let e = ext_add(p.p, cached_neg(qc));
            rx = e.x; ry = e.y; rz = e.z; rt = e.t;
        } else if (j == 3u) {
            let e = ext_double(p.p);
            rx = e.x; ry = e.y; rz = e.z; rt = e.t;
        } else if (j == 4u) {
            let e = double_scalar_mul_base(p.p, test_read(base + 16u), test_read(base + 24u), i);
            rx = e.x; ry = e.y; rz = e.z; rt = e.t;
        }
        test_write(o + 8u + 8u * j, compress(Ext(rx, ry, rz, rt)));
    }
}

