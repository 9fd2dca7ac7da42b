// Chat tab: sessions, history (`chat/messages`), and streamed turns over
// `POST .../chat/stream` (SSE: status, message {delta | message}, complete,
// system_notification).

import { api, inst, request, readSse } from './api.js';
import { h, mount, btn, icon, showError, errorBox, fmtAgo, fmtTime } from './ui.js';

const STATUS_TEXT = {
  accepted: 'Sent',
  queued: 'Waiting for the previous turn to finish…',
  starting: 'Starting the instance…',
  booting: 'The agent is starting up (the first start takes a few seconds)…',
  thinking: 'Thinking…',
};

/** Render a reply: ``` fenced code blocks, `inline code`, **bold**; everything else as text. */
export function renderRich(text) {
  const out = [];
  const parts = String(text).split(/```/);
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      const nl = part.indexOf('\n');
      const lang = nl > 0 ? part.slice(0, nl).trim() : '';
      const code = nl >= 0 && /^[\w+-]*$/.test(lang) ? part.slice(nl + 1) : part;
      out.push(h('pre.code', lang ? h('span.code-lang', lang) : null, h('code', code.replace(/\n$/, ''))));
      return;
    }
    if (!part) return;
    const p = h('div.rich-text');
    for (const tok of part.split(/(`[^`\n]+`|\*\*[^*\n]+\*\*)/)) {
      if (!tok) continue;
      if (tok.startsWith('`') && tok.endsWith('`') && tok.length > 2) p.append(h('code.inline', tok.slice(1, -1)));
      else if (tok.startsWith('**') && tok.endsWith('**') && tok.length > 4) p.append(h('strong', tok.slice(2, -2)));
      else p.append(document.createTextNode(tok));
    }
    out.push(p);
  });
  return out;
}

export class ChatTab {
  constructor(view) {
    this.view = view;
    this.sessions = null;
    this.current = null; // session id, or null for a new chat
    this.messages = [];
    this.streaming = null; // {controller}
    this.sessionList = h('div.session-list#chat-sessions');
    this.log = h('div.chat-log#chat-log', { 'aria-live': 'polite' });
    this.notice = h('div.chat-notice', { hidden: true });
    this.input = h('textarea.chat-input#chat-input', {
      rows: 1, placeholder: 'Message the agent…  (Enter to send, Shift+Enter for a new line)', 'aria-label': 'Message',
    });
    this.sendBtn = btn('', { icon: 'send', kind: 'primary', title: 'Send', id: 'chat-send', onclick: () => this.send() });
    this.stopBtn = btn('Stop', { icon: 'x', id: 'chat-stop', hidden: true, onclick: () => this.stop() });
    this.headTitle = h('div.chat-title', 'New chat');
    this.el = h('div.chat',
      h('aside.chat-side',
        h('div.chat-side-head', h('strong', 'Sessions'), btn('New', { icon: 'plus', size: 'sm', id: 'chat-new', onclick: () => this.newChat() })),
        this.sessionList),
      h('section.chat-main',
        h('div.chat-head', this.headTitle),
        this.notice,
        this.log,
        h('form.composer', { onsubmit: (e) => { e.preventDefault(); this.send(); } }, this.input, this.stopBtn, this.sendBtn)));
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
    });
    this.input.addEventListener('input', () => this.autosize());
  }

  autosize() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 200)}px`;
  }

  show() {
    this.renderNotice();
    if (!this.sessions) this.loadSessions(true);
    setTimeout(() => this.input.focus(), 0);
  }

  onReady() {
    this.renderNotice();
  }

  onStatus() {
    this.renderNotice();
  }

  renderNotice() {
    const gw = this.view.status && this.view.status.gateway;
    let msg = null;
    if (gw && gw.state === 'disabled') msg = 'This server runs no OpenClaw gateway, so the agent cannot answer. Files, terminal and desktop work.';
    else if (gw && gw.state === 'booting') msg = 'The agent is starting up; a message sent now is answered once it is ready.';
    else if (gw && gw.state === 'crashed') msg = `The agent stopped${gw.reason ? ` (${gw.reason})` : ''}; it is being restarted.`;
    if (msg === this.noticeText) return;
    this.noticeText = msg;
    this.notice.hidden = !msg;
    if (msg) mount(this.notice, icon('info'), h('span', msg));
  }

  async loadSessions(selectLatest = false) {
    try {
      const list = await api.get(inst(this.view.id, '/chat/sessions'));
      list.sort((a, b) => (b.last_activity_at || '').localeCompare(a.last_activity_at || ''));
      this.sessions = list;
      this.renderSessions();
      if (selectLatest && this.current === null && !this.streaming) {
        if (list.length) this.select(list[0].id);
        else this.renderLog();
      }
    } catch (e) {
      mount(this.sessionList, errorBox(e, () => this.loadSessions(selectLatest)));
    }
  }

  renderSessions() {
    if (!this.sessions.length) {
      mount(this.sessionList, h('p.muted.small.pad', 'No sessions yet. Send a message to start one.'));
      return;
    }
    mount(this.sessionList, this.sessions.map((s) => h('button.session', {
      type: 'button', class: s.id === this.current ? 'active' : '', dataset: { id: s.id },
      onclick: () => this.select(s.id),
    }, h('div.session-title', s.title), h('div.muted.small', `${s.message_count} message${s.message_count === 1 ? '' : 's'} · ${fmtAgo(s.last_activity_at)}`))));
  }

  newChat() {
    if (this.streaming) return;
    this.current = null;
    this.messages = [];
    mount(this.headTitle, 'New chat');
    this.renderSessions();
    this.renderLog();
    this.input.focus();
  }

  async select(id) {
    if (this.streaming) return;
    this.current = id;
    const s = (this.sessions || []).find((x) => x.id === id);
    mount(this.headTitle, s ? s.title : 'Chat');
    this.renderSessions();
    mount(this.log, h('div.empty', h('div.spinner')));
    try {
      const r = await api.get(inst(this.view.id, '/chat/messages'), { session_id: id, tail: 'true', limit: 200 });
      if (this.current !== id) return;
      this.messages = r.messages;
      this.renderLog(r.has_more);
    } catch (e) {
      if (this.current === id) mount(this.log, errorBox(e, () => this.select(id)));
    }
  }

  renderLog(hasMore = false) {
    if (!this.messages.length) {
      mount(this.log, h('div.empty.chat-empty', icon('chat', 40), h('h2', 'Talk to your agent'),
        h('p.muted', 'It works in this instance\'s /workspace: ask it to write code, run commands or explain files.')));
      return;
    }
    mount(this.log,
      hasMore ? h('div.muted.small.center', 'Earlier messages are not shown.') : null,
      this.messages.map((m) => this.bubble(m).el));
    this.scroll();
  }

  bubble(m) {
    const body = h('div.bubble-body');
    const foot = h('div.bubble-foot.muted.small');
    const el = h(`div.msg.msg-${m.role}`, { dataset: { id: m.id || '', status: m.status || '' } },
      h('div.avatar-sm', m.role === 'user' ? icon('user', 14) : icon('logo', 14)),
      h('div.bubble', body, foot));
    const b = { el, body, foot, text: m.content || '' };
    this.fill(b, m);
    return b;
  }

  fill(b, m) {
    b.text = m.content || '';
    // A failed reply may carry its error as its content too: show it once.
    const shown = m.status === 'failed' && m.error && b.text.trim() === m.error.trim() ? '' : b.text;
    mount(b.body, m.role === 'assistant' ? renderRich(shown) : h('div.rich-text', shown));
    b.el.dataset.status = m.status || '';
    if (m.id) b.el.dataset.id = m.id;
    const bits = [];
    if (m.created_at) bits.push(h('span', { title: fmtTime(m.created_at) }, fmtAgo(m.created_at)));
    if (m.duration_ms != null) bits.push(h('span', ` · ${(m.duration_ms / 1000).toFixed(1)} s`));
    if (m.usage) bits.push(h('span', ` · ${m.usage.input_tokens + m.usage.output_tokens} tokens`));
    mount(b.foot, bits);
    if (m.status === 'failed') b.body.append(h('div.bubble-error', m.error || 'The reply failed.'));
  }

  scroll() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  setStreaming(on) {
    this.sendBtn.hidden = on;
    this.stopBtn.hidden = !on;
    this.input.disabled = false;
  }

  stop() {
    if (this.streaming) this.streaming.controller.abort();
  }

  async send() {
    const text = this.input.value.trim();
    if (!text || this.streaming) return;
    this.input.value = '';
    this.autosize();
    if (!this.messages.length) mount(this.log);
    const user = this.bubble({ role: 'user', content: text, status: 'sending' });
    const asst = this.bubble({ role: 'assistant', content: '', status: 'streaming' });
    const statusLine = h('div.typing', h('span.typing-dots', h('i'), h('i'), h('i')), h('span', 'Sending…'));
    asst.body.append(statusLine);
    this.log.append(user.el, asst.el);
    this.scroll();
    const controller = new AbortController();
    this.streaming = { controller };
    this.setStreaming(true);
    let streamed = '';
    let finished = false;
    const setStatus = (t) => { mount(statusLine, h('span.typing-dots', h('i'), h('i'), h('i')), h('span', t)); };
    const render = () => {
      mount(asst.body, renderRich(streamed));
      if (!finished) asst.body.append(statusLine);
      this.scroll();
    };
    try {
      const body = { message: text };
      if (this.current) body.session_id = this.current;
      const res = await request('POST', inst(this.view.id, '/chat/stream'), { json: body, raw: true, signal: controller.signal });
      await readSse(res, (event, data) => {
        if (event === 'status') {
          if (data.session_id && !this.current) {
            this.current = data.session_id;
            mount(this.headTitle, text.slice(0, 60));
            this.loadSessions();
          }
          setStatus(STATUS_TEXT[data.state] || data.detail || data.state);
        } else if (event === 'message' && data.type === 'delta') {
          streamed += data.content || '';
          render();
        } else if (event === 'message' && data.type === 'message' && data.message) {
          const m = data.message;
          if (m.role === 'user') {
            this.fill(user, m);
            this.messages.push(m);
          } else {
            if (m.status === 'complete' || m.status === 'failed') {
              finished = true;
              this.fill(asst, m);
              this.messages.push(m);
            } else {
              streamed = m.content || streamed;
              render();
            }
          }
        } else if (event === 'complete') {
          finished = true;
          statusLine.remove();
          if (data.error) {
            asst.el.dataset.status = 'failed';
            if (!asst.body.querySelector('.bubble-error')) asst.body.append(h('div.bubble-error', `${data.error.message} (${data.error.code})`));
          }
        } else if (event === 'system_notification') {
          asst.body.insertBefore(h('div.sys-note', icon('info', 14), h('span', data.message || data.kind)), statusLine.parentNode === asst.body ? statusLine : null);
        }
        this.scroll();
      }, controller.signal);
      if (!finished) {
        statusLine.remove();
        asst.body.append(h('div.bubble-error', 'The stream ended before the reply was complete.'));
      }
    } catch (e) {
      statusLine.remove();
      if (e.name === 'AbortError') {
        asst.el.dataset.status = 'failed';
        asst.body.append(h('div.bubble-error', 'Stopped.'));
      } else {
        user.el.dataset.status = 'failed';
        if (!streamed) asst.el.remove();
        else asst.body.append(h('div.bubble-error', e.describe ? e.describe() : String(e)));
        showError(e, 'The message could not be sent');
        if (!this.current) this.input.value = text;
      }
    } finally {
      this.streaming = null;
      this.setStreaming(false);
      this.loadSessions();
    }
  }

  dispose() {
    this.stop();
  }
}
