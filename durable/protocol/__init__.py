"""Durable Execution Protocol v1: wire messages, framing and errors shared by every role."""

from .errors import *  # noqa: F403
from .framing import FrameDecoder, decode_frames, encode_frame, encode_frames
from .messages import *  # noqa: F403
