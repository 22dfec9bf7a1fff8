"""Real MIME mail of the simulated world, built with the stdlib email
package: prospects' inquiries, reps' outbound mail (multipart/mixed with
the chosen attachment and the framing sentence in the body), and replies
that quote the original the way mail clients do ("On <date>, <name>
wrote:" then "> " lines), with Message-ID, In-Reply-To and References set.
Out-of-office replies carry Auto-Submitted; bounces are RFC 3464 delivery
status notifications.
"""

import datetime
import hashlib
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email import encoders
from email.utils import format_datetime, formataddr

from scenario import label, rng_for

_UTC = datetime.timezone.utc


def sim_time(world, day, minute):
    """Datetime (UTC) of minute `minute` of simulated day `day`."""
    y, m, d = (int(x) for x in world.s["start_date"].split("-"))
    base = datetime.datetime(y, m, d, tzinfo=_UTC)
    return base + datetime.timedelta(days=day, minutes=minute)


def unix_ms(dt):
    return int(round(dt.timestamp() * 1000))


def message_id(world, plan, role):
    """A stable Message-ID for one mail of a thread (angle brackets)."""
    rep = world.reps[plan.rep]
    pro = world.prospects[plan.prospect]
    dom = rep.email.split("@")[1] if role.startswith("out") else \
        pro.email.split("@")[1]
    if role == "bounce":
        dom = "mx." + rep.email.split("@")[1]
    return "<sim.%s.%d.t%d.%s@%s>" % (world.s["name"], world.seed, plan.idx,
                                      role, dom)


def _topic_phrase(world, plan, salt):
    t = [x for x in world.s["topics"] if x["id"] == plan.topic][0]
    g = rng_for(world.seed, "phrase", salt, plan.idx)
    return t["phrases"][g.randrange(len(t["phrases"]))]


def _pick(world, plan, salt, options):
    g = rng_for(world.seed, "text", salt, plan.idx)
    return options[g.randrange(len(options))]


def _industry_words(world, seg):
    """The industry as the mail says it, or "" when the scenario keeps it
    out of the text (it then shows only in the prospect's domain)."""
    if not world.s.get("industry_in_text", True):
        return ""
    return label(seg["industry"], world.labels)


def prospect_signature(world, pro):
    title = label(pro.segment["persona"], world.labels)
    return "%s\n%s, %s" % (pro.name, title, pro.company["name"])


def rep_signature(world, rep):
    return "%s\nAccount Executive, %s" % (rep.name, world.s["team_name"])


def subject_of(world, plan):
    phrase = _topic_phrase(world, plan, "subject")
    return _pick(world, plan, "subject", [
        "Question about %s" % phrase, "%s" % phrase.capitalize(),
        "Looking into %s" % phrase, "Info on %s?" % phrase])


def inquiry(world, plan, when):
    """The prospect's first mail of an inbound thread; returns
    (message_id, raw bytes, body text)."""
    rep = world.reps[plan.rep]
    pro = world.prospects[plan.prospect]
    seg = pro.segment
    phrase = _topic_phrase(world, plan, "inquiry")
    ind = _industry_words(world, seg)
    body = "\n".join([
        "Hi %s," % rep.first, "",
        _pick(world, plan, "inq1", [
            "We're a%s company and we're in the %s phase." %
            (" " + ind if ind else "", label(seg["stage"], world.labels)),
            "I'm looking at options for our %steam (we're in %s)." %
            (ind + " " if ind else "", label(seg["stage"], world.labels)),
        ]),
        _pick(world, plan, "inq2", [
            "Could you send me something on %s?" % phrase,
            "Do you have material about %s you could share?" % phrase,
            "What can you tell me about %s?" % phrase,
        ]),
        "", "Thanks,", prospect_signature(world, pro), ""])
    msg = EmailMessage()
    mid = message_id(world, plan, "inq")
    msg["From"] = formataddr((pro.name, pro.email))
    msg["To"] = formataddr((rep.name, rep.email))
    msg["Subject"] = subject_of(world, plan)
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = mid
    msg.set_content(body)
    return mid, msg.as_bytes(), body


def quote(when, name, addr, body):
    """A reply client's quote block of an earlier message."""
    head = "On %s, %s <%s> wrote:" % (
        when.strftime("%a, %d %b %Y at %H:%M"), name, addr)
    lines = body.rstrip("\n").split("\n")
    return head + "\n" + "\n".join(("> " + ln) if ln else ">" for ln in lines)


def draft_text(world, plan):
    """What the rep has written when asking for suggestions."""
    pro = world.prospects[plan.prospect]
    phrase = _topic_phrase(world, plan, "draft")
    if plan.cold:
        ind = _industry_words(world, pro.segment)
        opener = _pick(world, plan, "open-cold", [
            "I work with %s teams on %s and thought of you." %
            (ind or "growing", phrase),
            "Reaching out because %s comes up a lot with teams like yours." %
            phrase])
    else:
        opener = _pick(world, plan, "open", [
            "Thanks for reaching out about %s." % phrase,
            "Great question on %s." % phrase,
            "Happy to help with %s." % phrase])
    return "Hi %s,\n\n%s\n" % (pro.first, opener)


def outbound(world, plan, when, doc, framing, parent):
    """The rep's mail: multipart/mixed, a text/plain body with the framing
    sentence next to the attachment line, the document attached, and the
    parent quoted when it is a reply. parent is None (cold mail) or a dict
    with message_id, when, name, addr, body, subject.
    Returns (message_id, raw bytes, body text)."""
    rep = world.reps[plan.rep]
    pro = world.prospects[plan.prospect]
    parts = [draft_text(world, plan).rstrip("\n"), ""]
    line = "I've attached %s." % doc["title"] if doc else ""
    if framing:
        line = (line + " " + framing).strip()
    if line:
        parts += [line, ""]
    parts += [_pick(world, plan, "close", [
        "Let me know if a short call would help.",
        "Happy to walk you through it.", "Any questions, just reply here."]),
        "", "Best,", rep_signature(world, rep)]
    body = "\n".join(parts) + "\n"
    text = body
    if parent is not None:
        text = body + "\n" + quote(parent["when"], parent["name"],
                                   parent["addr"], parent["body"]) + "\n"
    msg = MIMEMultipart("mixed")
    mid = message_id(world, plan, "out")
    msg["From"] = formataddr((rep.name, rep.email))
    msg["To"] = formataddr((pro.name, pro.email))
    if parent is not None:
        msg["Subject"] = "Re: " + parent["subject"]
        msg["In-Reply-To"] = parent["message_id"]
        msg["References"] = parent["message_id"]
    else:
        msg["Subject"] = subject_of(world, plan)
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = mid
    msg.set_boundary(_boundary(mid))
    msg.attach(MIMEText(text, "plain", "utf-8"))
    if doc is not None:
        maintype, _, subtype = doc["media_type"].partition("/")
        part = MIMEBase(maintype, subtype)
        part.set_payload(doc["data"])
        encoders.encode_base64(part)
        part.add_header("Content-Disposition", "attachment",
                        filename=doc["filename"])
        msg.attach(part)
    return mid, msg.as_bytes(), body


_REPLIES = {
    "positive": [
        "Thanks, this is really helpful. Could we set up a call next week?",
        "This looks like a good fit for us. Can you send a few times for a "
        "demo?",
        "Great material, I shared it with my team. Let's talk on Thursday.",
    ],
    "neutral": [
        "Thanks, I'll take a look and get back to you.",
        "Received, thank you. We're still gathering information.",
        "Thanks for sending this over.",
    ],
    "negative": [
        "Thanks, but this isn't a priority for us right now.",
        "We've decided to go with another vendor. Thanks anyway.",
        "Not interested at this time, thank you.",
    ],
    "unsubscribe": [
        "Please remove me from your mailing list.",
        "Unsubscribe. Please stop emailing me.",
        "Please take me off your list and don't contact me again.",
    ],
}


def reply(world, plan, kind, when, original):
    """The prospect's answer to the rep's mail. kind is positive, neutral,
    negative or unsubscribe (quoted reply), ooo (auto-reply) or bounce
    (delivery status notification). original is a dict with message_id,
    references (list), when, subject, body, raw (bytes).
    Returns (message_id, raw bytes)."""
    rep = world.reps[plan.rep]
    pro = world.prospects[plan.prospect]
    refs = list(original.get("references", [])) + [original["message_id"]]
    if kind == "bounce":
        return _bounce(world, plan, when, original, refs)
    mid = message_id(world, plan, kind)
    if kind == "ooo":
        back = (when + datetime.timedelta(days=5)).strftime("%d %B")
        body = ("I am out of the office until %s with limited access to "
                "email.\nI will respond to your message when I return.\n\n"
                "%s\n" % (back, pro.name))
        msg = EmailMessage()
        msg["Subject"] = "Automatic reply: " + original["subject"]
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Autoreply"] = "yes"
    else:
        text = _pick(world, plan, "reply-" + kind, _REPLIES[kind])
        body = "Hi %s,\n\n%s\n\n%s\n\n%s\n" % (
            rep.first, text, pro.first, quote(original["when"], rep.name,
                                              rep.email, original["body"]))
        msg = EmailMessage()
        msg["Subject"] = "Re: " + _strip_re(original["subject"])
    msg["From"] = formataddr((pro.name, pro.email))
    msg["To"] = formataddr((rep.name, rep.email))
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = mid
    msg["In-Reply-To"] = original["message_id"]
    msg["References"] = " ".join(refs)
    msg.set_content(body)
    return mid, msg.as_bytes()


def _strip_re(subject):
    s = subject
    while s.lower().startswith("re: "):
        s = s[4:]
    return s


def _boundary(mid):
    """A MIME boundary made from the Message-ID: Python's own is random,
    and a bounce quotes the original's headers (boundary included), so a
    random one would make the same world's mail differ from run to run."""
    return "=_sim_" + hashlib.sha256(mid.encode()).hexdigest()[:24]


def _bounce(world, plan, when, original, refs):
    rep = world.reps[plan.rep]
    pro = world.prospects[plan.prospect]
    mid = message_id(world, plan, "bounce")
    mx = "mx." + rep.email.split("@")[1]
    msg = MIMEMultipart("report", report_type="delivery-status")
    msg["From"] = formataddr(("Mail Delivery Subsystem", "mailer-daemon@" +
                              mx))
    msg["To"] = rep.email
    msg["Subject"] = "Delivery Status Notification (Failure)"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = mid
    msg["In-Reply-To"] = original["message_id"]
    msg["References"] = " ".join(refs)
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_boundary(_boundary(mid))
    msg.attach(MIMEText(
        "Your message to %s could not be delivered.\n\nThe recipient's "
        "mailbox does not exist (550 5.1.1 user unknown).\n" % pro.email,
        "plain", "utf-8"))
    per_msg = Message()
    per_msg["Reporting-MTA"] = "dns; " + mx
    per_rcpt = Message()
    per_rcpt["Final-Recipient"] = "rfc822; " + pro.email
    per_rcpt["Action"] = "failed"
    per_rcpt["Status"] = "5.1.1"
    per_rcpt["Diagnostic-Code"] = "smtp; 550 5.1.1 user unknown"
    status = MIMEBase("message", "delivery-status")
    status.set_payload([per_msg, per_rcpt])
    msg.attach(status)
    hdrs = MIMEText(original["raw"].split(b"\n\n", 1)[0].decode(
        "utf-8", "replace") + "\n", "rfc822-headers", "utf-8")
    msg.attach(hdrs)
    return mid, msg.as_bytes()
