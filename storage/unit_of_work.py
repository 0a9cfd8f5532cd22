"""`Store` opens transactions; a `Transaction` bundles one session with every repository."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.action_items import ActionItemRepository
from storage.api_tokens import ApiTokenRepository
from storage.audit import AuditRepository
from storage.components import ComponentRepository
from storage.inbound_events import InboundEventRepository
from storage.incident_roles import IncidentPromptRepository, IncidentRoleRepository
from storage.incidents import IncidentRepository
from storage.kudos import KudosRepository
from storage.leases import FENCING_TERM, check_fence
from storage.maintenance import MaintenanceRepository
from storage.outbox import OutboxRepository
from storage.paging import OverrideRepository, PageRepository
from storage.playbook_links import PlaybookLinkRepository
from storage.situation import SituationRepository
from storage.status_posts import AlertRepository, StatusPostRepository
from storage.subscribers import SubscriberRepository
from storage.timeline import TimelineRepository
from storage.topics import SavedTopicRepository
from storage.transport_state import TransportStateRepository
from storage.uptime import UptimeRepository
from storage.whys import WhyRepository
from storage.write_health import WriteHealth


class Transaction:
    """Every repository, over one session: what they do commits or rolls back together."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.incidents = IncidentRepository(session)
        self.timeline = TimelineRepository(session)
        self.status_posts = StatusPostRepository(session)
        self.alert = AlertRepository(session)
        self.topics = SavedTopicRepository(session)
        self.kudos = KudosRepository(session)
        self.audit = AuditRepository(session)
        self.outbox = OutboxRepository(session)
        self.transport_state = TransportStateRepository(session)
        self.playbook_links = PlaybookLinkRepository(session)
        self.pages = PageRepository(session)
        self.oncall_overrides = OverrideRepository(session)
        self.inbound_events = InboundEventRepository(session)
        self.maintenance = MaintenanceRepository(session)
        self.components = ComponentRepository(session)
        self.uptime = UptimeRepository(session)
        self.whys = WhyRepository(session)
        self.actions = ActionItemRepository(session)
        self.roles = IncidentRoleRepository(session)
        self.prompts = IncidentPromptRepository(session)
        self.subscribers = SubscriberRepository(session)
        self.api_tokens = ApiTokenRepository(session)
        self.situation = SituationRepository(session)


class Store:
    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.engine = engine
        self._sessions = sessions
        self.writes = WriteHealth()
        """Whether the database takes writes: every transaction that fails because it does
        not (disk full, read-only) is noted here, whoever the writer was."""

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Commit on normal exit, roll back on an exception. Work done for a leader's term
        (`FENCING_TERM` set) commits only while that term still holds the lease."""
        try:
            async with self._sessions() as session, session.begin():
                yield Transaction(session)
                term = FENCING_TERM.get()
                if term is not None:
                    await check_fence(session, term)
        except DBAPIError as error:
            # Only what the database said: a full disk met by other code inside the block
            # (a file written while the transaction is open) is not the database's.
            self.writes.refused(error)
            raise

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Transaction]:
        """A read-only view; nothing is committed."""
        async with self._sessions() as session:
            yield Transaction(session)

    async def close(self) -> None:
        await self.engine.dispose()
