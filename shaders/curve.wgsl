// The twisted Edwards curve -x^2 + y^2 = 1 + d x^2 y^2 (edwards25519) over field.wgsl.
//
// Points are in extended coordinates (X : Y : Z : T) with x = X/Z, y = Y/Z, xy = T/Z. The addition
// and doubling formulas are curve25519-dalek's (Hisil-Wong-Carter-Dawson, a = -1); they are complete:
// correct for every pair of points, the identity and the small-order (torsion) points included, which
// ZIP-215's adversarial inputs exercise.

struct Ext {
    x: Fe,
    y: Fe,
    z: Fe,
    t: Fe,
}

// A point prepared for addition: (Y + X, Y - X, Z, 2dT).
struct Cached {
    ypx: Fe,
    ymx: Fe,
    z: Fe,
    t2d: Fe,
}

fn ext_identity() -> Ext {
    return Ext(fe_zero(), fe_one(), fe_one(), fe_zero());
}

fn ext_to_cached(p: Ext) -> Cached {
    return Cached(fe_add(p.y, p.x), fe_sub(p.y, p.x), p.z, fe_mul(p.t, FE_D2));
}

fn cached_neg(c: Cached) -> Cached {
    return Cached(c.ymx, c.ypx, c.z, fe_neg(c.t2d));
}

fn ext_neg(p: Ext) -> Ext {
    return Ext(fe_neg(p.x), p.y, p.z, fe_neg(p.t));
}

// From the "completed" point ((X : Z), (Y : T)) to extended coordinates.
fn completed_to_ext(x: Fe, y: Fe, z: Fe, t: Fe) -> Ext {
    return Ext(fe_mul(x, t), fe_mul(y, z), fe_mul(z, t), fe_mul(x, y));
}

fn ext_add(p: Ext, q: Cached) -> Ext {
    let pp = fe_mul(fe_add(p.y, p.x), q.ypx);
    let mm = fe_mul(fe_sub(p.y, p.x), q.ymx);
    let tt2d = fe_mul(p.t, q.t2d);
    let zz = fe_mul(p.z, q.z);
    let zz2 = fe_add(zz, zz);
    return completed_to_ext(fe_sub(pp, mm), fe_add(pp, mm), fe_add(zz2, tt2d), fe_sub(zz2, tt2d));
}

fn ext_double(p: Ext) -> Ext {
    let xx = fe_sq(p.x);
    let yy = fe_sq(p.y);
    let z2 = fe_sq(p.z);
    let zz2 = fe_add(z2, z2);
    let xpy2 = fe_sq(fe_add(p.x, p.y));
    let yy_plus_xx = fe_add(yy, xx);
    let yy_minus_xx = fe_sub(yy, xx);
    return completed_to_ext(
        fe_sub(xpy2, yy_plus_xx), yy_plus_xx, yy_minus_xx, fe_sub(zz2, yy_minus_xx));
}

fn ext_is_identity(p: Ext) -> bool {
    return fe_is_zero(p.x) && fe_eq(p.y, p.z);
}

struct SqrtRatio {
    was_square: bool,
    r: Fe,
}

// curve25519-dalek's sqrt_ratio_i: the nonnegative square root of u/v when it exists.
fn fe_sqrt_ratio_i(u: Fe, v: Fe) -> SqrtRatio {
    let v3 = fe_mul(fe_sq(v), v);
    let v7 = fe_mul(fe_sq(v3), v);
    var r = fe_mul(fe_mul(u, v3), fe_pow_p58(fe_mul(u, v7)));
    let check = fe_mul(v, fe_sq(r));
    let neg_u = fe_neg(u);
    let correct_sign = fe_eq(check, u);
    let flipped_sign = fe_eq(check, neg_u);
    let flipped_sign_i = fe_eq(check, fe_mul(neg_u, FE_SQRT_M1));
    if (flipped_sign || flipped_sign_i) {
        r = fe_mul(r, FE_SQRT_M1);
    }
    return SqrtRatio(correct_sign || flipped_sign, fe_abs(r));
}

struct Decompressed {
    ok: bool,
    p: Ext,
}

// curve25519-dalek's CompressedEdwardsY::decompress, the decoding ZIP-215 prescribes: y is taken
// modulo p whatever its encoding, and a sign bit on x = 0 is accepted.
fn decompress(enc: array<u32, 8>) -> Decompressed {
    let y = fe_from_words(enc);
    let yy = fe_sq(y);
    let u = fe_sub(yy, fe_one());
    let v = fe_add(fe_mul(yy, FE_D), fe_one());
    let s = fe_sqrt_ratio_i(u, v);
    var x = s.r;
    if ((enc[7] >> 31u) == 1u) {
        x = fe_neg(x);
    }
    return Decompressed(s.was_square, Ext(x, y, fe_one(), fe_mul(x, y)));
}

fn compress(p: Ext) -> array<u32, 8> {
    let zinv = fe_invert(p.z);
    let x = fe_mul(p.x, zinv);
    let y = fe_mul(p.y, zinv);
    var w = fe_to_words(y);
    if (fe_is_negative(x)) {
        w[7] |= 0x80000000u;
    }
    return w;
}

// Scalar digits. Scalars are read through pointers to function variables, never indexed
// dynamically as values: Mesa 22.3's lavapipe computed wrong digits from a by-value array indexed
// by the (runtime) digit position.

// The i-th 4-bit digit of a 256-bit little-endian scalar.
fn nibble(s: ptr<function, array<u32, 8>>, i: u32) -> i32 {
    return i32(((*s)[i >> 3u] >> ((i & 7u) * 4u)) & 15u);
}

// Carries of the signed radix-16 recoding of s (digits in [-8, 8)), one bit per digit position:
// bit i of (lo, hi) is the carry into digit i. The scalar must be below 2^255, so the top digit
// stays in [-8, 8].
struct Carries {
    lo: u32,
    hi: u32,
}

fn radix16_carries(s: ptr<function, array<u32, 8>>) -> Carries {
    var c = Carries(0u, 0u);
    var carry = 0;
    for (var i = 0u; i < 63u; i++) {
        let v = nibble(s, i) + carry;
        carry = select(0, 1, v >= 8);
        let j = i + 1u;
        if (carry == 1 && j < 32u) {
            c.lo |= 1u << j;
        }
        if (carry == 1 && j >= 32u) {
            c.hi |= 1u << (j - 32u);
        }
    }
    return c;
}

fn carry_at(c: Carries, i: u32) -> i32 {
    if (i >= 64u) {
        return 0;
    }
    let word = select(c.lo, c.hi, i >= 32u);
    return i32((word >> (i & 31u)) & 1u);
}

// Signed digit i of the recoding: nibble + carry in - 16 * carry out.
fn radix16_digit(s: ptr<function, array<u32, 8>>, c: Carries, i: u32) -> i32 {
    return nibble(s, i) + carry_at(c, i) - 16 * carry_at(c, i + 1u);
}
