"""A local, private question-answering chatbot over news articles, with cited answers."""

from rag.answer import RAG, Answer, Citation, Timings, answer, answer_stream
from rag.config import Settings
from rag.retrieval import Passage

__all__ = ["RAG", "Answer", "Citation", "Passage", "Settings", "Timings", "answer", "answer_stream"]
