// ZIP-215 Ed25519 verification, one signature per invocation (see src/sigverify/zip215.rs for the rule).
//
// Input, 32 words per signature: R (8), A (8), S (8), k (8), each a little-endian 32-byte string;
// k = SHA-512(R || A || M) mod l is computed by the host. Output: one word per signature, 1 = valid.
//
// The check is [8]([S]B + [k](-A) - R) == identity, with [S]B + [k](-A) computed jointly (Straus):
// 64 signed radix-16 digits per scalar, 4 doublings per digit, one table lookup and one addition per
// scalar per digit. The multiples 1..8 of B come from `base_table` (built once by `build_base_table`);
// those of -A are built per signature.

struct Params {
    count: u32,
    // Always 0; see `opaque` in field.wgsl.
    loop_zero: u32,
}

@group(0) @binding(0) var<storage, read> sig_inputs: array<u32>;
@group(0) @binding(1) var<storage, read_write> sig_answers: array<u32>;
@group(0) @binding(2) var<storage, read_write> base_table: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

const WORDS_PER_SIG: u32 = 32u;
const WORDS_PER_CACHED: u32 = 40u;

// l = 2^252 + 27742317777372353535851937790883648493, little-endian words.
const ORDER_L: array<u32, 8> = array<u32, 8>(0x5cf5d3edu, 0x5812631au, 0xa2f79cd6u, 0x14def9deu,
                                             0u, 0u, 0u, 0x10000000u);

// B = (x, 4/5) with x positive.
const BASE_X: Fe = Fe(52811034u, 25909283u, 41626773u, 25318550u, 6892743u, 58046231u, 38675231u,
                      22018818u, 47435118u, 547405u);
const BASE_Y: Fe = Fe(40265304u, 26843545u, 40265318u, 26843545u, 40265318u, 26843545u, 40265318u,
                      26843545u, 40265318u, 1677721u);

fn scalar_is_canonical(s_in: array<u32, 8>) -> bool {
    var s = s_in;
    var order = ORDER_L;
    for (var i = 7; i >= 0; i--) {
        let w = s[i];
        let l = order[i];
        if (w < l) {
            return true;
        }
        if (w > l) {
            return false;
        }
    }
    return false;
}

fn load_fe(base: u32) -> Fe {
    var r: Fe;
    for (var i = 0u; i < 10u; i++) {
        r[i] = base_table[base + i];
    }
    return r;
}

fn store_fe(base: u32, a: Fe) {
    for (var i = 0u; i < 10u; i++) {
        base_table[base + i] = a[i];
    }
}

// [j + 1]B, j in 0..8.
fn base_multiple(j: u32) -> Cached {
    let o = j * WORDS_PER_CACHED;
    return Cached(load_fe(o), load_fe(o + 10u), load_fe(o + 20u), load_fe(o + 30u));
}

// [1]P .. [8]P in cached form, flat: point i at 4i..4i+3. The addition is complete, so P + P
// needs no doubling formula.
fn cached_multiples(p: Ext) -> array<Fe, 32> {
    var table: array<Fe, 32>;
    let p_cached = ext_to_cached(p);
    var mx = p.x;
    var my = p.y;
    var mz = p.z;
    var mt = p.t;
    for (var i = 0u; i < opaque(8u); i++) {
        if (i > 0u) {
            let m = ext_add(Ext(mx, my, mz, mt), p_cached);
            mx = m.x;
            my = m.y;
            mz = m.z;
            mt = m.t;
        }
        let c = ext_to_cached(Ext(mx, my, mz, mt));
        table[4u * i] = c.ypx;
        table[4u * i + 1u] = c.ymx;
        table[4u * i + 2u] = c.z;
        table[4u * i + 3u] = c.t2d;
    }
    return table;
}

// [a]P + [b]B for scalars below 2^255.
//
// Loop-carried points and selected table entries live in separate field-element variables, never in
// a `var` of struct type: on lavapipe, function variables of struct type (Ext, Cached) computed
// wrong results; tables are flat arrays of field elements for the same reason.
fn double_scalar_mul_base(p: Ext, a_in: array<u32, 8>, b_in: array<u32, 8>) -> Ext {
    var a = a_in;
    var b = b_in;
    // [i + 1]P in cached form at 4i..4i+3.
    var table = cached_multiples(p);
    let a_carries = radix16_carries(&a);
    let b_carries = radix16_carries(&b);
    var qx = fe_zero();
    var qy = fe_one();
    var qz = fe_one();
    var qt = fe_zero();
    for (var w = opaque(64u); w > 0u; w--) {
        let i = w - 1u;
        let doublings = select(4u, 0u, i == 63u);
        for (var d = 0u; d < opaque(doublings); d++) {
            let q = ext_double(Ext(qx, qy, qz, qt));
            qx = q.x;
            qy = q.y;
            qz = q.z;
            qt = q.t;
        }
        // side 0: digit of a, multiple of P; side 1: digit of b, multiple of B.
        for (var side = 0u; side < opaque(2u); side++) {
            var digit: i32;
            if (side == 0u) {
                digit = radix16_digit(&a, a_carries, i);
            } else {
                digit = radix16_digit(&b, b_carries, i);
            }
            if (digit != 0) {
                let j = u32(abs(digit)) - 1u;
                var ypx: Fe;
                var ymx: Fe;
                var cz: Fe;
                var t2d: Fe;
                if (side == 0u) {
                    ypx = table[4u * j];
                    ymx = table[4u * j + 1u];
                    cz = table[4u * j + 2u];
                    t2d = table[4u * j + 3u];
                } else {
                    let o = j * WORDS_PER_CACHED;
                    ypx = load_fe(o);
                    ymx = load_fe(o + 10u);
                    cz = load_fe(o + 20u);
                    t2d = load_fe(o + 30u);
                }
                if (digit < 0) {
                    let swap = ypx;
                    ypx = ymx;
                    ymx = swap;
                    t2d = fe_neg(t2d);
                }
                let q = ext_add(Ext(qx, qy, qz, qt), Cached(ypx, ymx, cz, t2d));
                qx = q.x;
                qy = q.y;
                qz = q.z;
                qt = q.t;
            }
        }
    }
    return Ext(qx, qy, qz, qt);
}

fn read_words(base: u32) -> array<u32, 8> {
    var w: array<u32, 8>;
    for (var i = 0u; i < 8u; i++) {
        w[i] = sig_inputs[base + i];
    }
    return w;
}

fn verify_one(r_enc: array<u32, 8>, a_enc: array<u32, 8>, s: array<u32, 8>, k: array<u32, 8>) -> bool {
    if (!scalar_is_canonical(s)) {
        return false;
    }
    // Both decompressions through one copy of the code: A (x, y, z, t at 0..3), then R (4..7).
    var points: array<Fe, 8>;
    for (var j = 0u; j < opaque(2u); j++) {
        var enc = a_enc;
        if (j == 1u) {
            enc = r_enc;
        }
        let d = decompress(enc);
        if (!d.ok) {
            return false;
        }
        points[4u * j] = d.p.x;
        points[4u * j + 1u] = d.p.y;
        points[4u * j + 2u] = d.p.z;
        points[4u * j + 3u] = d.p.t;
    }
    let a = Ext(points[0], points[1], points[2], points[3]);
    let r = Ext(points[4], points[5], points[6], points[7]);
    let sum = ext_add(double_scalar_mul_base(ext_neg(a), k, s), cached_neg(ext_to_cached(r)));
    var qx = sum.x;
    var qy = sum.y;
    var qz = sum.z;
    var qt = sum.t;
    for (var d = 0u; d < opaque(3u); d++) {
        let q = ext_double(Ext(qx, qy, qz, qt));
        qx = q.x;
        qy = q.y;
        qz = q.z;
        qt = q.t;
    }
    return ext_is_identity(Ext(qx, qy, qz, qt));
}

@compute @workgroup_size(64)
fn verify_main(@builtin(global_invocation_id) gid: vec3<u32>,
               @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i >= params.count) {
        return;
    }
    let o = i * WORDS_PER_SIG;
    let ok = verify_one(read_words(o), read_words(o + 8u), read_words(o + 16u), read_words(o + 24u));
    sig_answers[i] = select(0u, 1u, ok);
}

// Writes [1]B .. [8]B in cached form; run once when the pipelines are created.
@compute @workgroup_size(1)
fn build_base_table() {
    let b = Ext(BASE_X, BASE_Y, fe_one(), fe_mul(BASE_X, BASE_Y));
    var table = cached_multiples(b);
    for (var i = 0u; i < opaque(32u); i++) {
        store_fe(10u * i, table[i]);
    }
}
