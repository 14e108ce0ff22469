// Arithmetic modulo p = 2^255 - 19, exact, in ten unsigned 26-bit limbs (radix 2^26, 260 bits).
//
// Needs 64-bit integers (wgpu's SHADER_INT64): each limb product is a 32x32 -> 64-bit multiply and a
// column of ten products fits a u64 with room to spare.
//
// Invariant of every `Fe` a function here returns ("loose"): limb 0 < 2^26 + 2^7, limbs 1..8 < 2^26,
// limb 9 < 2^21, so the value is below 2^255 + 2^7 < 2p. Inputs must be loose too. Within those bounds:
// - a sum of two loose limbs fits a u32, and a + 4p - b never goes below zero limb by limb;
// - one carry pass after an add or sub restores the invariant (the carry out of limb 9 is at most 5);
// - a mul column is below 10 * (2^26 + 2^7)^2 < 2^56, far from u64 overflow.
// `fe_freeze` is the only place that produces the canonical value (< p); comparisons and encodings
// go through it.

alias Fe = array<u32, 10>;

// Loop bounds go through `opaque`, which adds a zero the host writes into the uniform parameters.
// Shader compilers cannot see through it, so they keep long loops (the 250 squarings of an
// exponentiation, the 64 digits of a scalar) as loops instead of unrolling them; Mesa's compilers
// also inline every function, and unrolled chains made the verifier take many minutes and gigabytes
// to compile on lavapipe. The limb loops stay constant-bounded and unroll, so that limbs live in
// registers with constant indices (tried on lavapipe: opaque limb loops did not compile faster).
fn opaque(n: u32) -> u32 {
    return n + params.loop_zero;
}


const MASK26: u32 = 0x3ffffffu;
const MASK21: u32 = 0x1fffffu;
const MASK26_64: u64 = 0x3fffffflu;
const MASK21_64: u64 = 0x1ffffflu;

// 4p in limbs: every limb is above the largest loose limb, so a + 4p - b cannot underflow.
const FOUR_P: Fe = Fe(0xfffffb4u, 0xffffffcu, 0xffffffcu, 0xffffffcu, 0xffffffcu,
                      0xffffffcu, 0xffffffcu, 0xffffffcu, 0xffffffcu, 0x7ffffcu);

// Curve constants (checked against curve25519-dalek through the point tests).
const FE_D: Fe = Fe(56195235u, 47411844u, 25868126u, 20251911u, 28682u, 31357478u, 7604119u,
                    66702899u, 15608687u, 1343707u);
const FE_D2: Fe = Fe(45281625u, 27714825u, 51736253u, 40503822u, 57364u, 62714956u, 15208238u,
                     66296934u, 31217375u, 590262u);
const FE_SQRT_M1: Fe = Fe(34513072u, 59165138u, 38243406u, 1750207u, 53429016u, 58652137u,
                          13633939u, 58469549u, 8409025u, 712905u);

fn fe_zero() -> Fe {
    return Fe(0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u);
}

fn fe_one() -> Fe {
    return Fe(1u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u);
}

// One carry pass over u32 limbs each below 2^30, folding bits >= 255 back with 2^255 = 19.
fn fe_carry32(x: Fe) -> Fe {
    var r = x;
    for (var i = 0u; i < 9u; i++) {
        r[i + 1u] += r[i] >> 26u;
        r[i] &= MASK26;
    }
    let c = r[9] >> 21u;
    r[9] &= MASK21;
    r[0] += 19u * c;
    return r;
}

fn fe_add(a: Fe, b: Fe) -> Fe {
    var r: Fe;
    for (var i = 0u; i < 10u; i++) {
        r[i] = a[i] + b[i];
    }
    return fe_carry32(r);
}

fn fe_sub(a: Fe, b: Fe) -> Fe {
    var r: Fe;
    for (var i = 0u; i < 10u; i++) {
        r[i] = (a[i] + FOUR_P[i]) - b[i];
    }
    return fe_carry32(r);
}

fn fe_neg(a: Fe) -> Fe {
    return fe_sub(fe_zero(), a);
}

// Two carry passes over u64 limbs each below 2^63; the result is loose.
fn fe_reduce64(x: array<u64, 10>) -> Fe {
    var w = x;
    for (var round = 0u; round < 2u; round++) {
        for (var i = 0u; i < 9u; i++) {
            w[i + 1u] += w[i] >> 26u;
            w[i] &= MASK26_64;
        }
        let c = w[9] >> 21u;
        w[9] &= MASK21_64;
        w[0] += 19lu * c;
    }
    var r: Fe;
    for (var i = 0u; i < 10u; i++) {
        r[i] = u32(w[i]);
    }
    return r;
}

// Reduces the 19 product columns: carry them into 26-bit limbs, then fold limbs 10..18
// (weight 2^260 = 608 mod p) onto limbs 0..8.
fn fe_fold(columns: array<u64, 19>) -> Fe {
    var t = columns;
    for (var k = 0u; k < 18u; k++) {
        t[k + 1u] += t[k] >> 26u;
        t[k] &= MASK26_64;
    }
    var w: array<u64, 10>;
    for (var i = 0u; i < 10u; i++) {
        w[i] = t[i];
    }
    for (var i = 0u; i < 9u; i++) {
        w[i] += 608lu * t[i + 10u];
    }
    return fe_reduce64(w);
}

fn fe_mul(a: Fe, b: Fe) -> Fe {
    var t: array<u64, 19>;
    for (var i = 0u; i < 10u; i++) {
        let ai = u64(a[i]);
        for (var j = 0u; j < 10u; j++) {
            t[i + j] += ai * u64(b[j]);
        }
    }
    return fe_fold(t);
}

fn fe_sq(a: Fe) -> Fe {
    var t: array<u64, 19>;
    for (var i = 0u; i < 10u; i++) {
        let ai = u64(a[i]);
        t[2u * i] += ai * ai;
        let ai2 = 2lu * ai;
        for (var j = i + 1u; j < 10u; j++) {
            t[i + j] += ai2 * u64(a[j]);
        }
    }
    return fe_fold(t);
}

// a^(2^n)
fn fe_sqn(a: Fe, n: u32) -> Fe {
    var r = a;
    for (var i = 0u; i < opaque(n); i++) {
        r = fe_sq(r);
    }
    return r;
}

struct Pow22501 {
    // a^(2^250 - 1)
    t19: Fe,
    // a^11
    t3: Fe,
}

// The addition chain of ref10 / curve25519-dalek. After a^(2^5 - 1) it is seven steps of
// "square n times, multiply by an earlier power", driven by a loop so that the code holds one copy
// of each operation (see `opaque`).
fn fe_pow22501(a: Fe) -> Pow22501 {
    let t0 = fe_sq(a);
    let t2 = fe_mul(a, fe_sqn(t0, 2u));
    let t3 = fe_mul(t0, t2);
    // saved[0] = a^(2^5 - 1), then 2^10 - 1, 2^20 - 1, 2^50 - 1, 2^100 - 1 (index 7: scratch).
    var saved: array<Fe, 8>;
    saved[0] = fe_mul(t2, fe_sq(t3));
    var squarings = array<u32, 7>(5u, 10u, 20u, 10u, 50u, 100u, 50u);
    var times = array<u32, 7>(0u, 1u, 2u, 1u, 3u, 4u, 3u);
    var keep = array<u32, 7>(1u, 2u, 7u, 3u, 4u, 7u, 7u);
    var x = saved[0];
    for (var step = 0u; step < opaque(7u); step++) {
        x = fe_mul(fe_sqn(x, squarings[step]), saved[times[step]]);
        saved[keep[step]] = x;
    }
    return Pow22501(x, t3);
}

// a^(p - 2) = a^-1 (and 0 for 0).
fn fe_invert(a: Fe) -> Fe {
    let c = fe_pow22501(a);
    return fe_mul(fe_sqn(c.t19, 5u), c.t3);
}

// a^((p - 5) / 8) = a^(2^252 - 3)
fn fe_pow_p58(a: Fe) -> Fe {
    let c = fe_pow22501(a);
    return fe_mul(fe_sqn(c.t19, 2u), a);
}

// The canonical representative (< p) of a loose element.
fn fe_freeze(a: Fe) -> Fe {
    // Carry without folding: limbs 0..8 < 2^26 and limb 9 may carry bit 255.
    var x = a;
    for (var i = 0u; i < 9u; i++) {
        x[i + 1u] += x[i] >> 26u;
        x[i] &= MASK26;
    }
    // y = x + 19 has bit 255 set exactly when x >= p; then x - p = y - 2^255.
    var y = x;
    y[0] += 19u;
    for (var i = 0u; i < 9u; i++) {
        y[i + 1u] += y[i] >> 26u;
        y[i] &= MASK26;
    }
    if ((y[9] >> 21u) != 0u) {
        y[9] &= MASK21;
        return y;
    }
    return x;
}

fn fe_eq(a: Fe, b: Fe) -> bool {
    let x = fe_freeze(a);
    let y = fe_freeze(b);
    var diff = 0u;
    for (var i = 0u; i < 10u; i++) {
        diff |= x[i] ^ y[i];
    }
    return diff == 0u;
}

fn fe_is_zero(a: Fe) -> bool {
    return fe_eq(a, fe_zero());
}

// The "sign" of curve25519: the low bit of the canonical encoding.
fn fe_is_negative(a: Fe) -> bool {
    return (fe_freeze(a)[0] & 1u) == 1u;
}

fn fe_select(a: Fe, b: Fe, pick_b: bool) -> Fe {
    if (pick_b) {
        return b;
    }
    return a;
}

fn fe_abs(a: Fe) -> Fe {
    return fe_select(a, fe_neg(a), fe_is_negative(a));
}

// Little-endian 32-byte encoding (8 words) to a field element. Bit 255 is ignored and values >= p are
// kept as given: the arithmetic reduces them, which is what ZIP-215's lenient decoding needs.
fn fe_from_words(w: array<u32, 8>) -> Fe {
    var r: Fe;
    for (var i = 0u; i < 10u; i++) {
        let bit = 26u * i;
        let word = bit >> 5u;
        let shift = bit & 31u;
        var x = u64(w[word]);
        if (word + 1u < 8u) {
            x |= u64(w[word + 1u]) << 32u;
        }
        r[i] = u32((x >> shift) & MASK26_64);
    }
    r[9] &= MASK21;
    return r;
}

// Canonical little-endian encoding (8 words).
fn fe_to_words(a: Fe) -> array<u32, 8> {
    let x = fe_freeze(a);
    var w: array<u32, 8>;
    for (var i = 0u; i < 10u; i++) {
        let bit = 26u * i;
        let word = bit >> 5u;
        let v = u64(x[i]) << (bit & 31u);
        w[word] |= u32(v & 0xfffffffflu);
        if (word + 1u < 8u) {
            w[word + 1u] |= u32(v >> 32u);
        }
    }
    return w;
}
