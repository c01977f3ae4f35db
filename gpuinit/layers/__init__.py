"""Layers and models whose parameters live on the device from the moment they exist.

>>> import gpuinit as gi
>>> from gpuinit.layers import Dense, Input, Sequential
>>> model = Sequential([Input(3), Dense(4), Dense(2, weight="he_uniform")], seed=0, device="cpu")
>>> model.count_params()
26
"""

from ..weightfiles import keras_h5, npz, safetensors  # the file formats, also importable here
from .attention import MultiHeadAttention
from .base import Input, Layer
from .conv import Conv1D, Conv2D, Conv3D
from .core import Activation, Dense, Embedding, Flatten
from .model import Sequential
from .normalization import BatchNorm, BatchNormalization, LayerNorm, LayerNormalization
from .parameter import Parameter, ParameterSpec, make_parameters, path_stream
from .progress import ProgressBar
from .recurrent import GRU, LSTM, SimpleRNN
from .transformer import PRESETS, GPTConfig, build_gpt, gpt_specs

# class name -> class, for Sequential.from_config
LAYERS = {cls.__name__: cls for cls in (
    Input, Dense, Embedding, Activation, Flatten, Conv1D, Conv2D, Conv3D, LayerNormalization,
    BatchNormalization, SimpleRNN, LSTM, GRU, MultiHeadAttention)}

__all__ = [
    "GRU", "LAYERS", "LSTM", "PRESETS", "Activation", "BatchNorm", "BatchNormalization",
    "Conv1D", "Conv2D", "Conv3D", "Dense", "Embedding", "Flatten", "GPTConfig", "Input", "Layer",
    "LayerNorm", "LayerNormalization", "MultiHeadAttention", "Parameter", "ParameterSpec",
    "ProgressBar", "Sequential", "SimpleRNN", "build_gpt", "gpt_specs", "make_parameters",
    "keras_h5", "npz", "path_stream", "safetensors",
]
