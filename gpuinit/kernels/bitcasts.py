"""The float32 <-> uint32 bit casts of :mod:`.primitives` as Numba intrinsics, for
either target: one LLVM ``bitcast`` each, a register move on CUDA."""

from llvmlite import ir
from numba import types


def make_bitcasts(intrinsic) -> dict:
    """Return {"float32_bits": ..., "bits_float32": ...} built with ``intrinsic``
    (``numba.core.extending.intrinsic`` for the CPU, ``numba.cuda.extending.intrinsic``
    for CUDA)."""

    def float32_bits(typingctx, x):
        """The uint32 pattern of a float32."""

        def codegen(context, builder, signature, args):
            value = context.cast(builder, args[0], signature.args[0], types.float32)
            return builder.bitcast(value, ir.IntType(32))

        return types.uint32(x), codegen

    def bits_float32(typingctx, bits):
        """The float32 of a uint32 pattern."""

        def codegen(context, builder, signature, args):
            word = context.cast(builder, args[0], signature.args[0], types.uint32)
            return builder.bitcast(word, ir.FloatType())

        return types.float32(bits), codegen

    return {"float32_bits": intrinsic(float32_bits), "bits_float32": intrinsic(bits_float32)}
