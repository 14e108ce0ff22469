// ZIP-215 Ed25519 verification, one signature per invocation (see src/sigverify/zip215.rs for the rule).
//
// Input, 32 words per signature: R (8), A (8), S (8), k (8), each a little-endian 32-byte string;
// k = SHA-512(R || A || M) mod l is computed by the host. Output: one word per signature, 1 = valid.
//
// The check is [8]([S]B + [k](-A) - R) == identity, with [S]B + [k](-A) computed jointly (Straus):
// 64 signed radix-16 digits per scalar, 4 doublings per digit, one table lookup and one addition per
// scalar per digit. The multiples 1..8 of B come from `base_table` (built once by `build_base_table`);
// those of -A are built per signature in `scratch`.

struct Params {
    count: u32,
    // Always 0; see `opaque` in field.wgsl.
    loop_zero: u32,
}

@group(0) @binding(0) var<storage, read> sig_inputs: array<u32>;
@group(0) @binding(1) var<storage, read_write> sig_answers: array<u32>;
@group(0) @binding(2) var<storage, read_write> base_table: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;
// The multiples of -A, 320 words per invocation (see `store_multiples`).
@group(0) @binding(6) var<storage, read_write> scratch: array<u32>;

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

// Owner of a table of multiples: an invocation index (its row of `scratch`), or the base table.
const BASE_OWNER: u32 = 0xffffffffu;

// Word `word` of `owner`'s table. Per-invocation tables are interleaved (word-major) so that the
// invocations of a workgroup touch neighbouring words.
fn table_get(owner: u32, word: u32) -> u32 {
    if (owner == BASE_OWNER) {
        return base_table[word];
    }
    return scratch[word * params.count + owner];
}

fn table_put(owner: u32, word: u32, v: u32) {
    if (owner == BASE_OWNER) {
        base_table[word] = v;
    } else {
        scratch[word * params.count + owner] = v;
    }
}

fn table_fe(owner: u32, base: u32) -> Fe {
    var r: Fe;
    for (var i = 0u; i < 10u; i++) {
        r[i] = table_get(owner, base + i);
    }
    return r;
}

fn table_put_fe(owner: u32, base: u32, a: Fe) {
    for (var i = 0u; i < 10u; i++) {
        table_put(owner, base + i, a[i]);
    }
}

// Writes [1]P .. [8]P in cached form into `owner`'s table: point i at words 40i..40i+39
// (Y+X, Y-X, Z, 2dT). The addition is complete, so P + P needs no doubling formula.
//
// The tables live in storage buffers, not in function variables: a GPU spills a dynamically indexed
// private array of this size to memory anyway, and on Mesa 22.3's lavapipe such arrays computed wrong
// results.
fn store_multiples(p: Ext, owner: u32) {
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
        let o = i * WORDS_PER_CACHED;
        table_put_fe(owner, o, c.ypx);
        table_put_fe(owner, o + 10u, c.ymx);
        table_put_fe(owner, o + 20u, c.z);
        table_put_fe(owner, o + 30u, c.t2d);
    }
}

// [a]P + [b]B for scalars below 2^255; `inv` is the calling invocation (its row of `scratch`).
//
// Loop-carried points live in separate field-element variables, never in a `var` of struct type:
// on Mesa 22.3's lavapipe, function variables of struct type (Ext, Cached) computed wrong results
// (that driver miscompiled the composed verifier whatever the form; Mesa 25 runs it right).
fn double_scalar_mul_base(p: Ext, a_in: array<u32, 8>, b_in: array<u32, 8>, inv: u32) -> Ext {
    var a = a_in;
    var b = b_in;
    store_multiples(p, inv);
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
                let owner = select(inv, BASE_OWNER, side == 1u);
                let o = (u32(abs(digit)) - 1u) * WORDS_PER_CACHED;
                var ypx = table_fe(owner, o);
                var ymx = table_fe(owner, o + 10u);
                let cz = table_fe(owner, o + 20u);
                var t2d = table_fe(owner, o + 30u);
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

fn verify_one(r_enc: array<u32, 8>, a_enc: array<u32, 8>, s: array<u32, 8>, k: array<u32, 8>,
              inv: u32) -> bool {
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
    let sum = ext_add(double_scalar_mul_base(ext_neg(a), k, s, inv), cached_neg(ext_to_cached(r)));
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
    let ok = verify_one(read_words(o), read_words(o + 8u), read_words(o + 16u), read_words(o + 24u), i);
    sig_answers[i] = select(0u, 1u, ok);
}

// Writes [1]B .. [8]B in cached form; run once when the pipelines are created.
@compute @workgroup_size(1)
fn build_base_table() {
    store_multiples(Ext(BASE_X, BASE_Y, fe_one(), fe_mul(BASE_X, BASE_Y)), BASE_OWNER);
}
