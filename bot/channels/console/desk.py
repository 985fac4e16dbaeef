"""What the agent console does to a conversation, inside the Rasa server process.

The ticket's state changes first (one atomic UPDATE, bot/services/handoff.py); only the agent who got
the change then touches the conversation, under Rasa's lock for it:

- claim: the resident is told a person is there;
- reply: the agent's words go to the resident's channel and into the tracker as a bot
  utterance marked with the agent's name;
- hand back / close / nobody claimed in time: ConversationResumed, a closing message, and
  action_listen, so the resident's next message is answered by the bot again.

Messages reach the resident through the output channel of the channel they last wrote on
(``app.ctx.input_channels``: the socket.io widget's room, WeChat customer-service messages);
a channel without one (REST) gets them in the tracker only.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterable, Sequence

from rasa.core.channels.channel import OutputChannel
from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationResumed, Event
from rasa.shared.core.trackers import DialogueStateTracker

from bot.services.handoff import Ticket, TicketStore
from knowledge.handoff import HandoffTexts
from knowledge.loader import Contact

logger = logging.getLogger(__name__)

MAX_REPLY_CHARS = 2000
CALLBACK_PAYLOAD = "/request_callback"  # actions/handoff.py answers it


class DeskError(Exception):
    """The agent may not do this now; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class Entry:
    """One line of a conversation's transcript on the console."""

    who: str  # "user", "bot" or "agent"
    text: str
    time: float
    agent: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"who": self.who, "text": self.text, "time": self.time, "agent": self.agent}


def transcript(events: Iterable[Event]) -> list[Entry]:
    entries = []
    for event in events:
        if event.type_name == "user" and (event.text or "").strip():
            entries.append(Entry("user", event.text, event.timestamp))
        elif event.type_name == "bot" and (event.text or "").strip():
            agent = (event.metadata or {}).get("agent")
            entries.append(Entry("agent" if agent else "bot", event.text, event.timestamp, agent))
    return entries


class Desk:
    """The console's actions on tickets and conversations; ``agent`` is Rasa's Agent."""

    def __init__(
        self,
        tickets: TicketStore,
        texts: HandoffTexts,
        contacts: dict[str, Contact],
        agent: Any,
        input_channels: Sequence[Any],
    ) -> None:
        self.tickets = tickets
        self.texts = texts
        self.contacts = contacts
        self.agent = agent
        self.input_channels = input_channels

    # --- conversation -----------------------------------------------------------------------

    def _output(self, tracker: DialogueStateTracker) -> OutputChannel | None:
        name = tracker.get_latest_input_channel()
        for channel in self.input_channels:
            if channel.name() == name:
                output = channel.get_output_channel()
                if output is not None:
                    return output
        return None

    async def _tell(self, sender: str, messages: list[dict[str, Any]], agent: str | None = None, resume: bool = False) -> None:
        """Add the messages (and the resumption) to the tracker, then send them."""
        async with self.agent.lock_store.lock(sender):
            tracker = await self.agent.tracker_store.retrieve(sender)
            if tracker is None:
                raise DeskError(404, "this conversation is no longer in the tracker store")
            if resume:
                tracker.update(ConversationResumed())
            for message in messages:
                data = {"buttons": message["buttons"]} if message.get("buttons") else None
                tracker.update(BotUttered(message["text"], data=data, metadata={"agent": agent} if agent else {}))
            if resume:
                tracker.update(ActionExecuted("action_listen"))
            await self.agent.tracker_store.save(tracker)
            output = self._output(tracker)
        if output is None:
            return
        for message in messages:
            try:
                await output.send_response(sender, dict(message))
            except Exception:
                logger.exception("console: a message to conversation of ticket could not be sent")

    async def transcript(self, ticket: Ticket) -> list[Entry]:
        tracker = await self.agent.tracker_store.retrieve_full_tracker(ticket.sender)
        return transcript(tracker.events) if tracker is not None else []

    # --- tickets ----------------------------------------------------------------------------

    def ticket(self, ticket_id: int) -> Ticket:
        try:
            return self.tickets.get(ticket_id)
        except Exception:
            raise DeskError(404, f"no ticket {ticket_id}") from None

    async def claim(self, ticket_id: int, agent: str) -> Ticket:
        ticket = self.ticket(ticket_id)
        if not self.tickets.claim(ticket_id, agent):
            current = self.ticket(ticket_id)
            holder = f"{current.claimed_by} 已接手" if current.claimed_by else f"工单状态：{current.status}"
            raise DeskError(409, f"不能接手：{holder}")
        await self._tell(ticket.sender, [{"text": self.texts.claimed}], agent=agent)
        return self.ticket(ticket_id)

    def _held(self, ticket_id: int, agent: str) -> Ticket:
        ticket = self.ticket(ticket_id)
        if not self.tickets.holds(ticket_id, agent):
            raise DeskError(409, "只有接手这张工单的值班人员才能这样做")
        return ticket

    async def reply(self, ticket_id: int, agent: str, text: str) -> None:
        text = (text or "").strip()
        if not text:
            raise DeskError(400, "回复不能为空")
        if len(text) > MAX_REPLY_CHARS:
            raise DeskError(400, f"回复不能超过 {MAX_REPLY_CHARS} 个字")
        ticket = self._held(ticket_id, agent)
        await self._tell(ticket.sender, [{"text": self.texts.agent_says.format(text=text)}], agent=agent)

    async def hand_back(self, ticket_id: int, agent: str) -> Ticket:
        ticket = self._held(ticket_id, agent)
        if not self.tickets.hand_back(ticket_id, agent):
            raise DeskError(409, "这张工单已经不在您手上")
        await self._tell(ticket.sender, [{"text": self.texts.handed_back}], agent=agent, resume=True)
        return self.ticket(ticket_id)

    async def close(self, ticket_id: int, agent: str, outcome: str) -> Ticket:
        ticket = self.ticket(ticket_id)
        if outcome not in self.texts.outcomes:
            raise DeskError(400, "请选择结果")
        if not self.tickets.close(ticket_id, agent, outcome, tuple(self.texts.outcomes)):
            raise DeskError(409, "这张工单已结束，或在别的值班人员手上")
        await self._tell(ticket.sender, [{"text": self.texts.closed}], agent=agent, resume=True)
        return self.ticket(ticket_id)

    def no_agent_messages(self) -> list[dict[str, Any]]:
        return [
            {"text": self.texts.no_agent},
            {"text": self.contacts["police_110"].say},
            {"text": self.contacts["antifraud_96110"].say},
            {"text": self.texts.callback_offer, "buttons": [{"title": self.texts.callback_button, "payload": CALLBACK_PAYLOAD}]},
        ]

    async def expire(self, claim_timeout: float) -> list[Ticket]:
        """Nobody claimed in time: resume the bot and give 110/96110 and the call-back offer."""
        expired = self.tickets.expire_unclaimed(timedelta(seconds=claim_timeout))
        for ticket in expired:
            logger.info("console: ticket %d was not claimed in %.0f s", ticket.id, claim_timeout)
            try:
                await self._tell(ticket.sender, self.no_agent_messages(), resume=True)
            except Exception:
                logger.exception("console: could not resume the conversation of ticket %d", ticket.id)
        return expired
