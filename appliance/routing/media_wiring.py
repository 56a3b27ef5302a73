"""The SIP part's calls meet the media part: the B2BUA gets the media plane its calls across a
connection are anchored in, the prompts its greetings and menus play, the tones, the hold
music, the writer that keeps recorded calls, the voicemail boxes, and the supervisors'
listen-ins (the mixer's address, the audit). Nothing of it when the
media part is off: the SDP then passes end to end and nothing is played."""

from __future__ import annotations

from appliance.calls.b2bua import B2BUA
from appliance.calls.recordings import writer_for
from appliance.calls.voicemail_store import StoreMailboxes
from appliance.directory.supervision import SupervisionDirectory
from appliance.directory.voicemail import folder_of
from appliance.errors import ConfigError
from appliance.localtime import box_zone
from appliance.mail import Mailer
from appliance.media.service import rtp_address
from appliance.service import ServiceContext
from appliance.workers import Workers


def wire_media(b2bua: B2BUA, ctx: ServiceContext) -> Workers | None:
    """Give ``b2bua`` what the media part offers; the media's worker pool (a pool apart from
    the SIP part's: one conversion may take minutes), to be closed at stop, or None."""
    b2bua.media = ctx.media_plane()
    prompts = ctx.media_prompts()
    if b2bua.media is None or prompts is None:
        return None
    b2bua.prompts = lambda g: prompts.greeting(g.language, g.text)
    b2bua.tones = prompts.tone
    b2bua.prompt_folder = prompts.folder
    b2bua.hold_music = prompts.hold_music
    workers = Workers("media-files", 2)
    data = ctx.config.paths.data
    b2bua.on_recorded = writer_for(ctx.store, workers, data, ctx.config.recording)
    mailer = Mailer(ctx.config.mail, zone=box_zone(ctx.config, ctx.store)) \
        if ctx.config.mail.enabled else None
    b2bua.mailboxes = StoreMailboxes(ctx.store, workers, folder_of(data), workers, mailer)
    try:
        b2bua.listen_address = rtp_address(ctx.config.media)
    except ConfigError:  # rtpengine could not start either: no listen-in
        b2bua.listen_address = None

    async def audit(supervisor: str, supervised: str) -> None:
        directory = SupervisionDirectory(ctx.store, actor=f"extension {supervisor}")
        await workers.run(directory.listened, supervised)
    b2bua.audit = audit
    return workers
