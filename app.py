"""The browser chat: streamed, cited answers over the corpus, with a panel to add articles.

    python app.py [--corpus DIR] [--model PATH] [--host 127.0.0.1] [--port 7860]

Flow of a question: respond() -> RAG.stream() (rag/answer.py) -> retrieval, prompt, model ->
checked Answer -> render_answer() shows the text with linked markers and a card per source.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import gradio as gr

from rag import RAG, Answer, Settings
from rag.articles import add_article, decode_text, split_dateline
from rag.checks import words
from rag.chunking import planted_spans, sentence_spans
from rag.prompting import Message

CSS = """
.source-card { border: 1px solid #d0d7de; border-radius: 8px; padding: 8px 12px; margin: 8px 0; background: #f6f8fa; }
.source-card .meta { font-size: 0.85em; color: #57606a; margin-bottom: 4px; }
.source-card mark { background: #fff3b0; padding: 0 2px; }
"""

HELP = (
    "Ask about the articles in the corpus. Every answer cites the passages it comes from: click a "
    "marker like [1] to jump to its source card. If the articles don't hold the answer, the bot says so. "
    "Ask also what an article is about, what happened somewhere, who is in a story, when it was published, "
    "or which articles mention something; "
    "\"Tell me more\" reads on after an answer. "
    "Stop ends an answer early. "
    "One model serves everyone, so questions wait in a queue when it is busy."
)


def highlight(passage: str, answer_text: str) -> str:
    """The passage as HTML, its sentence closest to the answer marked."""
    spans = sentence_spans(passage)
    target = words(answer_text)
    best = max(spans, key=lambda span: len(words(passage[span[0] : span[1]]) & target))
    before, marked, after = passage[: best[0]], passage[best[0] : best[1]], passage[best[1] :]
    return f"{html.escape(before)}<mark>{html.escape(marked)}</mark>{html.escape(after)}"


def render_answer(answer: Answer, turn: int) -> str:
    """Answer text with markers linked to source cards below it; a refusal shows no sources."""
    text = re.sub(r"\[(\d+)\]", lambda m: f'<a href="#src-{turn}-{m.group(1)}">[{m.group(1)}]</a>',
                  html.escape(answer.text))
    cards = []
    for c in answer.citations:
        date = c.date.strftime("%-d %B %Y") if c.date else "undated"
        cards.append(
            f'<div class="source-card" id="src-{turn}-{c.n}"><div class="meta"><b>[{c.n}] {html.escape(c.title)}'
            f"</b> · {date} · {html.escape(c.doc_id)}</div>{highlight(c.text, answer.text)}</div>"
        )
    # data-final tells the page (and the browser test) that the streamed text was replaced.
    return f'<div class="answer" data-final="1">{text}</div>' + "".join(cards)


class ChatApp:
    def __init__(self, bot: RAG) -> None:
        self.bot = bot
        self.ready = threading.Event()
        self.load_error: str | None = None
        # Browser sessions (Gradio's session_hash) with an answer under way, and those that pressed
        # Stop or New conversation during it (True: the conversation is to be cleared too).
        self.answering: set[str | None] = set()
        self.stopping: dict[str | None, bool] = {}
        threading.Thread(target=self._load, daemon=True).start()

    def _load(self) -> None:
        """Index, embedding model and model load once, in the background, so the page can show its
        loading state and the first question is answered as fast as the next."""
        try:
            self.bot.load()
        except Exception as exc:  # shown on the page instead of a dead app
            self.load_error = str(exc)
        self.ready.set()

    def status(self) -> Iterator[str]:
        yield "**Loading** the index and the model…"
        self.ready.wait()
        yield self._status_line()

    def _status_line(self) -> str:
        if self.load_error:
            return f"**Error:** {self.load_error}"
        chunks = self.bot.index.chunks
        if not chunks:
            return (f"**No articles yet** in `{self.bot.settings.corpus_dir}`. Add one below "
                    "(upload a .txt or .md file, or paste text).")
        articles = len(self.bot.index.doc_ids)
        return f"**Ready:** {articles} article{'s' * (articles != 1)}, {len(chunks)} passages."

    def article_choices(self) -> gr.Dropdown:
        """The articles a question can be narrowed to, by title (the file name tells copies apart)."""
        return gr.Dropdown(choices=[(f"{title} ({doc_id})", doc_id) for title, _, doc_id, _ in self.articles_table()])

    def articles_table(self) -> list[list[object]]:
        if not self.ready.is_set() or self.load_error:
            return []
        counts: dict[str, list[object]] = {}
        for c in self.bot.index.chunks:
            row = counts.setdefault(c.doc_id, [c.title, c.date.isoformat() if c.date else "", c.doc_id, 0])
            row[3] += 1  # type: ignore[operator]
        return list(counts.values())

    def respond(self, message: str, history: list[dict], articles: list[str] | None = None,
                request: gr.Request | None = None) -> Iterator[tuple[list[dict], str | dict]]:
        """Stream the answer into the chat, then replace it with the checked, cited version."""
        if not message.strip():  # an empty box, as a second click on Ask finds it: nothing was asked
            yield gr.skip(), gr.skip()
            return
        session = request.session_hash if request else None
        self.answering.add(session)
        # The question shows at once; the first words of its answer come seconds later.
        waiting = "Searching the articles…" if self.ready.is_set() else "Loading the model, one moment…"
        history = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": waiting}]
        try:
            yield history, ""  # the box is cleared once: what is typed meanwhile stays
            self.ready.wait()
            if self.load_error:
                raise RuntimeError(self.load_error)
            streamed = ""
            earlier = conversation(history[:-2])
            # closing: a stopped answer ends its stream at once, which frees the model.
            with closing(self.bot.stream(message, history=earlier, articles=articles or ())) as items:
                for item in items:
                    if session in self.stopping:
                        history[-1]["content"] = f"{html.escape(streamed)} <i>(stopped)</i>"
                        yield [] if self.stopping[session] else history, gr.skip()
                        return
                    if isinstance(item, Answer):
                        history[-1]["content"] = render_answer(item, turn=len(history) // 2)
                    else:
                        streamed += item
                        history[-1]["content"] = html.escape(streamed)
                    yield history, gr.skip()
        except (ValueError, RuntimeError) as exc:
            history[-1]["content"] = f"**Sorry:** {html.escape(str(exc))}"
            yield history, gr.skip()
        finally:
            self.answering.discard(session)
            self.stopping.pop(session, None)

    def stop(self, request: gr.Request) -> None:
        """Stop pressed: the answer this browser is waiting for ends at the model's next word."""
        if request.session_hash in self.answering:
            self.stopping.setdefault(request.session_hash, False)

    def new_conversation(self, request: gr.Request) -> list[dict]:
        """An empty chat (a question being typed stays); an answer still being written is stopped
        and stays out of the new chat."""
        if request.session_hash in self.answering:
            self.stopping[request.session_hash] = True
        return []

    def ask(self, question: str, articles: list[str] | None = None, history: list[dict] | None = None) -> dict:
        """The API form: one question in (searched in `articles` only, when given; read with the
        conversation before it, `history`, as in `answer()`), the answer text and its citations out."""
        self.ready.wait()
        try:
            result = self.bot.answer(question, history=history, articles=articles or ())
        except (ValueError, RuntimeError) as exc:
            raise gr.Error(str(exc)) from exc  # the client gets the message, not a traceback
        return {
            "answer": result.text,
            "refused": result.refused,
            "citations": [{"n": c.n, "doc_id": c.doc_id, "title": c.title,
                           "date": c.date.isoformat() if c.date else None, "text": c.text} for c in result.citations],
        }

    def add(self, upload: str | None, pasted: str, name: str) -> tuple[str, list[list[object]], str, gr.Dropdown]:
        """Save an uploaded file or pasted text as an article and index it right away."""
        try:
            if upload:
                file_name, data = Path(upload).name, Path(upload).read_bytes()
            elif pasted.strip():
                file_name, data = (name.strip() or "pasted") + ".txt", pasted.encode("utf-8")
            else:
                raise ValueError("Choose a .txt or .md file, or paste an article's text.")
            saved = add_article(self.bot.settings.corpus_dir, file_name, data)
            self.ready.wait()
            self.bot.refresh(progress=False)
            message = f"**Added** `{saved.name}`: it can be asked about now." + left_out_note(data)
        except (ValueError, OSError) as exc:
            message = f"**Not added:** {exc} Nothing was changed."
        return message, self.articles_table(), self._status_line(), self.article_choices()


def left_out_note(data: bytes) -> str:
    """What chunking leaves out of a new article as written for an AI reader (`planted_spans`),
    told to whoever added it: such text is never searched or shown to the model."""
    text = split_dateline(decode_text(data))[1]
    planted = [" ".join(text[start:end].split()) for start, end in planted_spans(text)]
    if not planted:
        return ""
    more = f" and {len(planted) - 1} more." if len(planted) > 1 else ""
    return f" Left out, as written for an AI reader rather than for people: “{planted[0][:160]}”{more}"


def _text(content: str | list[dict]) -> str:
    """A chat message's HTML. The page hands messages back as lists of parts ({"type": "text",
    "text": ...}); those `respond` writes are strings."""
    if isinstance(content, list):
        return " ".join(part["text"] for part in content if part.get("type") == "text")
    return content


def conversation(messages: list[dict]) -> list[Message]:
    """The chat as the model reads it: finished answers and their questions as plain text (no HTML,
    no source cards). An answer cut short by Stop, or an error message, stays out, as in `rag chat`."""
    kept = []
    for question, reply in zip(messages[::2], messages[1::2]):
        if 'data-final="1"' in _text(reply["content"]):  # set by render_answer on the checked answer
            kept += [{"role": m["role"], "content": _plain(_text(m["content"]))} for m in (question, reply)]
    return kept


def _plain(text: str) -> str:
    """A message's HTML as the model reads it: the answer's text, without its source cards."""
    text = text.split('<div class="source-card"', 1)[0]
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def build(bot: RAG) -> gr.Blocks:
    app = ChatApp(bot)
    with gr.Blocks(title="Ask the articles") as demo:
        gr.Markdown("# Ask the articles\n" + HELP)
        status = gr.Markdown("**Loading…**", elem_id="status")
        chat = gr.Chatbot(height=520, elem_id="chat", sanitize_html=False, label="Chat",
                          placeholder="Ask a question about the articles, e.g. *What did Umerov call the next step?*")
        with gr.Row():
            box = gr.Textbox(placeholder="Type a question and press Enter", show_label=False, scale=8,
                             elem_id="question", max_length=bot.settings.max_question_chars)
            send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
            stop = gr.Button("Stop", scale=1, elem_id="stop")
        with gr.Row():
            narrow = gr.Dropdown(label="Search only in (empty: all articles)", multiselect=True, choices=[],
                                 scale=8, elem_id="narrow")
            new = gr.Button("New conversation", scale=1, elem_id="new")
        with gr.Accordion("Articles in the corpus", open=False, elem_id="corpus"):
            table = gr.Dataframe(headers=["title", "date", "file", "passages"], interactive=False, wrap=True)
            with gr.Row():
                upload = gr.File(label="Upload a .txt or .md article", file_types=[".txt", ".md"],
                                 type="filepath", elem_id="upload")
                with gr.Column():
                    name = gr.Textbox(label="Name for pasted text", placeholder="my-article")
                    pasted = gr.Textbox(label="…or paste an article", lines=5, elem_id="paste")
            add = gr.Button("Add article", elem_id="add")
            added = gr.Markdown(elem_id="add-status")

        demo.load(app.status, outputs=status).then(app.articles_table, outputs=table).then(
            app.article_choices, outputs=narrow)
        # One listener for Enter and Ask: a question asked while another is answered runs after it
        # (always_last), reading the chat as it is then; Gradio's default dropped it.
        gr.on([box.submit, send.click], app.respond, [box, chat, narrow], [chat, box], trigger_mode="always_last",
              api_visibility="private")
        stop.click(app.stop, api_visibility="private")
        new.click(app.new_conversation, outputs=chat, api_visibility="private")
        add.click(app.add, [upload, pasted, name], [added, table, status, narrow], api_visibility="private")
        gr.api(app.ask, api_name="ask")
    demo.queue(default_concurrency_limit=1)  # one model: requests wait their turn
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--host", default=os.environ.get("RAG_HOST", "127.0.0.1"))
    # argparse converts a string default with `type` too: a bad RAG_PORT gets its usage message.
    parser.add_argument("--port", type=int, default=os.environ.get("RAG_PORT", "7860"))
    args = parser.parse_args()
    try:
        bot = RAG(Settings().with_(corpus_dir=args.corpus, model_path=args.model))
    except ValueError as exc:  # a bad RAG_* setting
        parser.error(str(exc))
    bot.settings.corpus_dir.mkdir(parents=True, exist_ok=True)
    build(bot).launch(server_name=args.host, server_port=args.port, css=CSS, show_error=True)


if __name__ == "__main__":
    main()
