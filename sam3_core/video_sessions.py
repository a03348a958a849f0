"""The open video sessions of this serving process: bounded in number (``SAM3_MAX_SESSIONS``), closed after
``SAM3_SESSION_TTL_S`` idle, the least recently used idle one closed first when a new one needs its place.

A session id is 32 random bytes, URL-safe (``secrets``): unguessable, so one client's session is never reached
by another's. Requests on one session run one at a time (its lock); the session is "in use" meanwhile and is
never closed under a request. Sessions live in this process only: several replicas of an endpoint do not share
them, and the error for an unknown id says so.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sam3_core.errors import PayloadTooLarge, RequestError, ServiceUnavailable
from sam3_core.model.video import SessionOptions
from sam3_core.model.video_session_mixed import VideoSession

UNKNOWN = (
    "unknown, expired or closed session; start one again. A session lives in the server process that started it: "
    "behind several replicas, send all its requests to that one"
)


class SessionNotFound(RequestError):
    """An unknown, expired or closed ``session_id`` (HTTP 404 from ``sam3-serve``; 400 through the toolkit)."""

    status_code = 404


@dataclass
class OpenSession:
    """A session and what the service keeps with it: the ``video`` description start_session answered, the
    detection options it was started with, its lock and when it was last used (``time.monotonic``)."""

    session: VideoSession
    video: dict[str, Any]
    options: SessionOptions
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)
    in_use: int = 0
    max_bytes: int = 2 * 1024**3  # SAM3_SESSION_MAX_BYTES, set by the store

    def check_size(self) -> None:
        """``PayloadTooLarge`` once the session holds more than ``max_bytes``."""
        held = self.session.nbytes
        if held > self.max_bytes:
            raise PayloadTooLarge(
                "max_frame_num_to_track",
                f"the session holds {held / 2**20:.0f} MB, over SAM3_SESSION_MAX_BYTES ({self.max_bytes / 2**20:.0f}"
                " MB): track fewer frames at once, remove objects, or reset the session",
            )

    def position(self, frame_index: int, name: str) -> int:
        """The session position of source frame ``frame_index``; ``RequestError`` naming ``name`` otherwise."""
        indices = self.video["frame_indices"]
        try:
            return indices.index(frame_index)
        except ValueError:
            shown = f"{indices[0]}..{indices[-1]}" if len(indices) > 3 else ", ".join(map(str, indices))
            raise RequestError(name, f"frame {frame_index} is not one of the session's frames ({shown})") from None


class SessionStore:
    """The open sessions (see the module docstring); ``clock`` for tests."""

    def __init__(
        self, max_sessions: int, ttl_s: float, max_bytes: int = 2 * 1024**3, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_sessions, self.ttl_s, self.max_bytes, self.clock = max_sessions, ttl_s, max_bytes, clock
        self._open: dict[str, OpenSession] = {}
        self._lock = threading.Lock()

    def _expire(self) -> None:
        now = self.clock()
        for session_id, found in list(self._open.items()):
            if not found.in_use and now - found.last_used > self.ttl_s:
                del self._open[session_id]

    def add(self, made: OpenSession) -> str:
        """Keep ``made``, closing expired sessions and, when full, the least recently used idle one; its id."""
        with self._lock:
            self._expire()
            if len(self._open) >= self.max_sessions:
                idle = [(found.last_used, key) for key, found in self._open.items() if not found.in_use]
                if not idle:
                    raise ServiceUnavailable(f"all {self.max_sessions} video sessions are in use (SAM3_MAX_SESSIONS)")
                del self._open[min(idle)[1]]
            session_id = secrets.token_urlsafe(32)
            made.last_used, made.max_bytes = self.clock(), self.max_bytes
            self._open[session_id] = made
            return session_id

    @contextlib.contextmanager
    def using(self, session_id: str) -> Iterator[OpenSession]:
        """The session, held for one request (``SessionNotFound`` when there is none by that id)."""
        with self._lock:
            self._expire()
            found = self._open.get(session_id)
            if found is None:
                raise SessionNotFound("session_id", UNKNOWN)
            found.in_use += 1
        try:
            with found.lock:
                yield found
        finally:
            with self._lock:
                found.in_use -= 1
                found.last_used = self.clock()

    def close(self, session_id: str) -> None:
        with self._lock:
            if self._open.pop(session_id, None) is None:
                raise SessionNotFound("session_id", UNKNOWN)

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._open)

    @property
    def nbytes(self) -> int:
        """Bytes the open sessions hold: frames (lossless PNG), detections (RLE) and tracker state."""
        with self._lock:
            return sum(found.session.nbytes for found in self._open.values())
