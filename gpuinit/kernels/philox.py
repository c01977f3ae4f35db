"""Philox4x32-10 (Salmon et al., SC'11; Random123), as scalar source.

The counter contract: key = (seed mod 2^32, seed >> 32); block b at
attempt a of stream s uses the counter (b mod 2^32, (b >> 32) | (a << 16),
s mod 2^32, s >> 32).  All arithmetic is done in 64-bit integers and masked back
to 32 bits, which compiles to ``mul.wide.u32`` on CUDA and never overflows a
NumPy scalar in the simulator.
"""


from ._twin import scalar
from .primitives import uint32, uint64

MASK32 = 0xFFFFFFFF
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
ROUNDS = 10
# The block index has 48 bits: the top 16 bits of counter word 1 hold the attempt.
MAX_BLOCKS = 1 << 48
MAX_ATTEMPTS = 1 << 16


@scalar
def product_halves(product):
    """Return the (hi, lo) 32-bit halves of a 64-bit product."""
    return uint32(product >> uint64(32)), uint32(product & uint64(MASK32))


@scalar
def mulhilo32(a, b):
    """Return the (hi, lo) 32-bit halves of the 64-bit product a * b."""
    # The halves written out rather than by product_halves: with one call more, CUDA's
    # compiler unrolled the rounds and made each 32x32->64 multiply a 64-bit one.
    product = uint64(a) * uint64(b)
    return uint32(product >> uint64(32)), uint32(product & uint64(MASK32))


@scalar
def round_from_halves(hi0, lo0, hi1, lo1, c1, c3, k0, k1):
    """Return the counter after one Philox4x32 round with key (k0, k1), given the
    halves of the round's two products M0·c0 and M1·c2 (a loop over consecutive
    counters can carry the products instead of multiplying: see the CPU fill loop)."""
    return (
        uint32(uint64(hi1) ^ uint64(c1) ^ uint64(k0)),
        lo1,
        uint32(uint64(hi0) ^ uint64(c3) ^ uint64(k1)),
        lo0,
    )


@scalar
def philox_round(c0, c1, c2, c3, k0, k1):
    """Return the counter after one Philox4x32 round with key (k0, k1)."""
    hi0, lo0 = mulhilo32(PHILOX_M0, c0)
    hi1, lo1 = mulhilo32(PHILOX_M1, c2)
    return round_from_halves(hi0, lo0, hi1, lo1, c1, c3, k0, k1)


@scalar
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Return the four 32-bit words of Philox4x32-10 for counter c and key k."""
    c0 = uint32(c0)
    c1 = uint32(c1)
    c2 = uint32(c2)
    c3 = uint32(c3)
    k0 = uint32(k0)
    k1 = uint32(k1)
    for _ in range(ROUNDS - 1):
        c0, c1, c2, c3 = philox_round(c0, c1, c2, c3, k0, k1)
        k0 = uint32((uint64(k0) + uint64(PHILOX_W0)) & uint64(MASK32))
        k1 = uint32((uint64(k1) + uint64(PHILOX_W1)) & uint64(MASK32))
    return philox_round(c0, c1, c2, c3, k0, k1)


@scalar
def block_counter(block, attempt):
    """Return counter words 0 and 1 of block ``block`` at ``attempt`` (counter contract);
    words 2 and 3 are the stream's."""
    b = uint64(block)
    return uint32(b & uint64(MASK32)), uint32((b >> uint64(32)) | (uint64(attempt) << uint64(16)))


@scalar
def philox_block(block, attempt, k0, k1, s0, s1):
    """Return the four words of block ``block`` at ``attempt`` (counter contract)."""
    c0, c1 = block_counter(block, attempt)
    return philox4x32_10(c0, c1, s0, s1, k0, k1)
