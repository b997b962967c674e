"""Durable Execution Protocol v1: wire messages, framing and errors shared by every role."""

from .errors import *  # noqa: F403
from .framing import FrameDecoder as FrameDecoder
from .framing import decode_frames as decode_frames
from .framing import encode_frame as encode_frame
from .framing import encode_frames as encode_frames
from .messages import *  # noqa: F403
