// The Chromium panel's own logic (clients/chromium/panel_state.js): the
// compose state as panel_logic's request parts, and a state per failure.
import test from "node:test";
import assert from "node:assert/strict";
import {
  base64Of, composeRequestParts, errorState, stateText,
} from "../../clients/chromium/panel_state.js";
import { buildSuggestRequest } from "../../clients/thunderbird/panel_logic.js";

const COMPOSE = {
  from: "ann@seller.example",
  to: ["cfo0@prospect0.example"],
  cc: [],
  subject: "Re: Question 0",
  draft: "Happy to help with pricing",
  thread: { id: "t1", subject: "Question 0", author: "cfo0@prospect0.example",
    date: "Tue, Mar 3, 2026, 10:00 AM", text: "Could you send pricing?" },
};

test("a compose state becomes the shared logic's suggest request", () => {
  const { details, related } = composeRequestParts(COMPOSE);
  const req = buildSuggestRequest(details, related, 7);
  assert.equal(req.id, 7);
  assert.equal(req.draft, "Happy to help with pricing");
  assert.deepEqual(req.recipients, ["cfo0@prospect0.example"]);
  assert.equal(req.rep_email, "ann@seller.example");
  assert.equal(req.thread.subject, "Question 0");
  assert.equal(req.thread.in_reply_to_message_id, undefined);
  assert.equal(req.thread.messages[0].from, "cfo0@prospect0.example");
  assert.equal(req.thread.messages[0].text, "Could you send pricing?");
});

test("a new mail (no thread) asks with its subject only", () => {
  const { related, details } = composeRequestParts(
    Object.assign({}, COMPOSE, { thread: null, from: "" }));
  assert.equal(related, null);
  const req = buildSuggestRequest(details, related, 1);
  assert.deepEqual(req.thread, { subject: "Re: Question 0", messages: [] });
  assert.equal(req.rep_email, undefined);
});

test("each failure has its own state", () => {
  assert.equal(errorState(new Error("the Snipwise helper (snipwise-nm) " +
    "stopped: Specified native messaging host not found.")), "no-host");
  assert.equal(errorState(new Error("stopped: Access to the specified " +
    "native messaging host is forbidden.")), "no-host");
  assert.equal(errorState({ code: "UNAVAILABLE", message: "x" }),
    "unreachable");
  assert.equal(errorState({ code: "DEADLINE_EXCEEDED", message: "x" }),
    "unreachable");
  assert.equal(errorState({ code: "UNAUTHENTICATED", message: "x" }),
    "key-refused");
  assert.equal(errorState({ code: "PERMISSION_DENIED", message: "x" }),
    "key-refused");
  assert.equal(errorState({ code: "INVALID_ARGUMENT", message: "x" }),
    "error");
});

test("the changed state names the site and the selector", () => {
  const t = stateText("changed", null, { site: "gmail", selectorName: "body",
    selector: "div[role=textbox]" });
  assert.match(t, /^This page changed: Snipwise cannot read Gmail's compose/);
  assert.match(t, /\(body: div\[role=textbox\] not found\)/);
  assert.match(stateText("unreachable", { message: "snipd is not " +
    "reachable at 127.0.0.1:1: refused" }), /^snipd is unreachable: snipd/);
});

test("base64Of round-trips bytes of every value, in pieces", () => {
  const b = new Uint8Array(70000);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31) & 255;
  assert.deepEqual(new Uint8Array(Buffer.from(base64Of(b), "base64")), b);
});
