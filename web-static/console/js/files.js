// Files tab: browse /workspace, upload (raw bytes, streamed), download, edit text files,
// new folder / file, rename, delete.

import { api, inst, request } from './api.js';
import { h, mount, btn, icon, toast, showError, errorBox, dialog, fmtBytes, fmtTime, fmtAgo, joinPath, parentPath } from './ui.js';

const ROOT = '/workspace';

export class FilesTab {
  constructor(view) {
    this.view = view;
    this.path = ROOT;
    this.listing = null;
    this.loading = false;
    this.editor = null;
    this.uploads = 0;

    this.crumbs = h('nav.path-crumbs#files-path', { 'aria-label': 'Path' });
    this.fileInput = h('input#file-upload-input', { type: 'file', multiple: true, hidden: true, onchange: () => {
      const files = [...this.fileInput.files];
      this.fileInput.value = '';
      this.upload(files);
    } });
    this.uploadNote = h('span.muted.small');
    this.toolbar = h('div.toolbar',
      btn('', { icon: 'up', title: 'Parent folder', id: 'files-up', onclick: () => this.go(parentPath(this.path)) }),
      this.crumbs,
      h('div.spacer'),
      this.uploadNote,
      btn('', { icon: 'refresh', title: 'Refresh', id: 'files-refresh', onclick: () => this.load() }),
      btn('New folder', { icon: 'folder', id: 'files-mkdir', onclick: () => this.mkdir() }),
      btn('New file', { icon: 'file', id: 'files-newfile', onclick: () => this.newFile() }),
      btn('Upload', { icon: 'upload', kind: 'primary', id: 'files-upload', onclick: () => this.fileInput.click() }),
      this.fileInput);
    this.listEl = h('div.file-list#file-list');
    this.drop = h('div.dropzone', h('div', icon('upload', 32), h('div', 'Drop files to upload them here')));
    this.browser = h('div.files-browser', this.toolbar, h('div.file-list-wrap', this.listEl, this.drop));
    this.editorEl = h('div.editor-wrap', { hidden: true });
    this.el = h('div.files', this.browser, this.editorEl);

    let depth = 0;
    this.browser.addEventListener('dragenter', (e) => { if (hasFiles(e)) { depth++; this.browser.classList.add('dragging'); e.preventDefault(); } });
    this.browser.addEventListener('dragover', (e) => { if (hasFiles(e)) e.preventDefault(); });
    this.browser.addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; this.browser.classList.remove('dragging'); } });
    this.browser.addEventListener('drop', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      this.browser.classList.remove('dragging');
      this.upload([...e.dataTransfer.files]);
    });
  }

  show() {
    if (!this.listing && !this.loading) this.load();
  }

  onReady(ready) {
    if (ready && this.listing) this.load();
  }

  go(path) {
    this.path = path || ROOT;
    this.load();
  }

  async load() {
    this.loading = true;
    const path = this.path;
    if (!this.listing) mount(this.listEl, h('div.empty', h('div.spinner')));
    try {
      const listing = await api.get(inst(this.view.id, '/files'), { path });
      if (path !== this.path) return;
      this.listing = listing;
      this.path = listing.path || path;
      this.render();
    } catch (e) {
      if (path !== this.path) return;
      this.listing = null;
      this.renderCrumbs();
      mount(this.listEl, errorBox(e, () => this.load()),
        path !== ROOT ? h('p', btn('Back to /workspace', { icon: 'home', onclick: () => this.go(ROOT) })) : null);
    } finally {
      this.loading = false;
    }
  }

  renderCrumbs() {
    const parts = this.path.replace(/^\/+/, '').split('/').filter(Boolean);
    const links = [];
    let acc = '';
    parts.forEach((p, i) => {
      acc += `/${p}`;
      const target = acc;
      if (i) links.push(h('span.sep', '/'));
      if (acc.length < ROOT.length) return;
      links.push(i === parts.length - 1
        ? h('span.crumb.current', p)
        : h('a.crumb', { href: '#', onclick: (e) => { e.preventDefault(); this.go(target); } }, i === 0 ? icon('home', 14) : null, p));
    });
    mount(this.crumbs, links);
  }

  render() {
    this.renderCrumbs();
    const entries = this.listing.entries || [];
    if (!entries.length) {
      mount(this.listEl, h('div.empty.empty-sm', icon('folder', 32), h('p.muted', 'This folder is empty. Upload files or drop them here.')));
      return;
    }
    mount(this.listEl, h('table.table.files-table',
      h('thead', h('tr', h('th', 'Name'), h('th.right.hide-sm', 'Size'), h('th.hide-sm', 'Modified'), h('th.right', ''))),
      h('tbody', entries.map((e) => this.row(e)))));
  }

  row(e) {
    const isDir = e.type === 'directory';
    const open = () => (isDir ? this.go(e.path) : this.openEditor(e.path));
    return h('tr.row-link', { dataset: { name: e.name, type: e.type }, ondblclick: open },
      h('td', h('a.file-name', { href: '#', onclick: (ev) => { ev.preventDefault(); open(); } },
        icon(isDir ? 'folder' : e.type === 'symlink' ? 'link' : 'file', 18), h('span', e.name))),
      h('td.right.hide-sm.nowrap', isDir ? '—' : fmtBytes(e.size)),
      h('td.hide-sm.nowrap', { title: fmtTime(e.modified_at) }, fmtAgo(e.modified_at)),
      h('td.right.nowrap.row-actions',
        !isDir ? btn('', { icon: 'download', kind: 'ghost', title: `Download ${e.name}`, dataset: { action: 'download' }, onclick: () => this.download(e.path, e.name) }) : null,
        !isDir ? btn('', { icon: 'edit', kind: 'ghost', title: `Edit ${e.name}`, dataset: { action: 'edit' }, onclick: () => this.openEditor(e.path) }) : null,
        btn('', { icon: 'copy', kind: 'ghost', title: `Rename ${e.name}`, dataset: { action: 'rename' }, onclick: () => this.rename(e) }),
        btn('', { icon: 'trash', kind: 'ghost', title: `Delete ${e.name}`, dataset: { action: 'delete' }, onclick: () => this.remove(e) })));
  }

  async upload(files) {
    if (!files.length) return;
    const dir = this.path;
    this.uploads += files.length;
    mount(this.uploadNote, h('span.spinner.spinner-sm'), ` Uploading ${this.uploads} file${this.uploads > 1 ? 's' : ''}…`);
    let ok = 0;
    await Promise.all(files.map(async (f) => {
      try {
        await request('POST', inst(this.view.id, '/files/upload'), {
          query: { path: joinPath(dir, f.name) },
          headers: { 'Content-Type': 'application/octet-stream' },
          body: f,
        });
        ok++;
      } catch (e) {
        showError(e, `Upload of ${f.name} failed`);
      } finally {
        this.uploads--;
      }
    }));
    mount(this.uploadNote, this.uploads ? `Uploading ${this.uploads}…` : '');
    if (ok) toast(ok === 1 ? `Uploaded ${files[0].name}` : `Uploaded ${ok} files`, 'success');
    if (dir === this.path) this.load();
  }

  async download(path, name) {
    try {
      const res = await request('GET', inst(this.view.id, '/files/download'), { query: { path }, raw: true });
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (e) {
      showError(e, `Download of ${name} failed`);
    }
  }

  async mkdir() {
    const v = await dialog({ title: 'New folder', fields: [{ name: 'name', label: `Folder in ${this.path}`, placeholder: 'folder-name' }], confirm: 'Create' });
    if (!v || !v.name.trim()) return;
    try {
      await api.post(inst(this.view.id, '/files/mkdir'), { path: joinPath(this.path, v.name.trim()) });
      this.load();
    } catch (e) {
      showError(e, 'Could not create the folder');
    }
  }

  async newFile() {
    const v = await dialog({ title: 'New file', fields: [{ name: 'name', label: `File in ${this.path}`, placeholder: 'notes.md' }], confirm: 'Create' });
    if (!v || !v.name.trim()) return;
    const path = joinPath(this.path, v.name.trim());
    try {
      const exists = (this.listing?.entries || []).some((e) => e.path === path);
      if (!exists) await api.post(inst(this.view.id, '/files/write'), { path, content: '' });
      this.load();
      this.openEditor(path);
    } catch (e) {
      showError(e, 'Could not create the file');
    }
  }

  async rename(e) {
    const v = await dialog({ title: `Rename ${e.name}`, fields: [{ name: 'name', label: 'New name (or a path inside /workspace)', value: e.name, select: true }], confirm: 'Rename' });
    if (!v || !v.name.trim() || v.name.trim() === e.name) return;
    const name = v.name.trim();
    const to = name.startsWith('/') ? name : joinPath(this.path, name);
    try {
      await api.post(inst(this.view.id, '/files/rename'), { from: e.path, to });
      this.load();
    } catch (err) {
      showError(err, 'Rename failed');
    }
  }

  async remove(e) {
    const isDir = e.type === 'directory';
    const ok = await dialog({
      title: `Delete ${e.name}?`,
      message: isDir ? 'The folder and everything in it are deleted.' : 'The file is deleted for good.',
      confirm: 'Delete', danger: true,
    });
    if (!ok) return;
    try {
      await api.post(inst(this.view.id, '/files/delete'), { path: e.path, recursive: isDir });
      toast(`Deleted ${e.name}`, 'success');
      this.load();
    } catch (err) {
      showError(err, 'Delete failed');
    }
  }

  // ------------------------------------------------------------ editor

  async openEditor(path) {
    if (this.editor && this.editor.dirty && !(await dialog({ title: 'Discard changes?', message: `${this.editor.path} has unsaved changes.`, confirm: 'Discard', danger: true }))) return;
    const name = path.split('/').pop();
    const area = h('textarea.editor#file-editor', { spellcheck: 'false', 'aria-label': `Contents of ${name}`, disabled: true });
    const state = h('span.muted.small#editor-state', 'Loading…');
    const save = btn('Save', { icon: 'save', kind: 'primary', id: 'editor-save', disabled: true, onclick: () => this.save() });
    const close = btn('Close', { icon: 'x', id: 'editor-close', onclick: () => this.closeEditor() });
    this.editor = { path, area, state, save, dirty: false };
    mount(this.editorEl,
      h('div.toolbar',
        btn('', { icon: 'up', title: 'Back to the folder', onclick: () => this.closeEditor() }),
        h('div.editor-title', icon('file', 16), h('span.mono', path)),
        h('div.spacer'), state, save, close),
      area);
    this.browser.hidden = true;
    this.editorEl.hidden = false;
    area.addEventListener('input', () => {
      if (!this.editor.dirty) { this.editor.dirty = true; save.disabled = false; mount(state, '● unsaved'); }
    });
    area.addEventListener('keydown', (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') { e.preventDefault(); this.save(); }
      if (e.key === 'Tab' && !e.shiftKey) {
        e.preventDefault();
        const { selectionStart: a, selectionEnd: b } = area;
        area.setRangeText('  ', a, b, 'end');
        area.dispatchEvent(new Event('input'));
      }
    });
    try {
      const r = await api.get(inst(this.view.id, '/files/read'), { path });
      if (this.editor?.path !== path) return;
      area.value = r.content;
      area.disabled = false;
      mount(state, fmtBytes(r.size));
      area.focus();
    } catch (e) {
      if (this.editor?.path !== path) return;
      if (e.code === 'NOT_TEXT') {
        mount(this.editorEl.querySelector('.toolbar'),
          btn('', { icon: 'up', title: 'Back to the folder', onclick: () => this.closeEditor() }),
          h('div.editor-title', icon('file', 16), h('span.mono', path)), h('div.spacer'), close);
        area.replaceWith(h('div.empty', icon('file', 40), h('h2', 'Not a text file'),
          h('p.muted', 'This file is binary (or too large to edit here). Download it instead.'),
          btn('Download', { icon: 'download', kind: 'primary', onclick: () => this.download(path, name) })));
      } else {
        mount(state, '');
        area.replaceWith(errorBox(e, () => { this.editor = null; this.openEditor(path); }));
      }
    }
  }

  async save() {
    const ed = this.editor;
    if (!ed || ed.area.disabled) return;
    ed.save.disabled = true;
    mount(ed.state, 'Saving…');
    try {
      const r = await api.post(inst(this.view.id, '/files/write'), { path: ed.path, content: ed.area.value });
      ed.dirty = false;
      mount(ed.state, `Saved · ${fmtBytes(r.size)}`);
      toast(`Saved ${ed.path.split('/').pop()}`, 'success');
    } catch (e) {
      ed.save.disabled = false;
      mount(ed.state, '● unsaved');
      showError(e, 'Save failed');
    }
  }

  async closeEditor() {
    if (this.editor && this.editor.dirty && !(await dialog({ title: 'Discard changes?', message: `${this.editor.path} has unsaved changes.`, confirm: 'Discard', danger: true }))) return;
    this.editor = null;
    this.editorEl.hidden = true;
    mount(this.editorEl);
    this.browser.hidden = false;
    this.load();
  }
}

function hasFiles(e) {
  return e.dataTransfer && [...e.dataTransfer.types].includes('Files');
}
