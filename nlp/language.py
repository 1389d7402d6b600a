"""Language detection with lingua (models ship inside the wheel; nothing is downloaded).

Articles are long, so the fast low-accuracy mode on their first ~300 characters is both quick
(~0.1 ms) and reliable; short texts (a headline, a tweet-length summary) go to the
high-accuracy detector, which lingua's authors recommend below ~120 characters. The language
set is the one overseas news about China is written in.
"""

from __future__ import annotations

from functools import lru_cache

from lingua import Language, LanguageDetectorBuilder

LANGUAGES = [Language.ENGLISH, Language.CHINESE, Language.JAPANESE, Language.KOREAN, Language.GERMAN,
             Language.FRENCH, Language.SPANISH, Language.ITALIAN, Language.PORTUGUESE, Language.RUSSIAN,
             Language.ARABIC, Language.DUTCH, Language.SWEDISH, Language.POLISH, Language.TURKISH,
             Language.VIETNAMESE, Language.INDONESIAN, Language.MALAY, Language.THAI, Language.HINDI]
SHORT = 120
SAMPLE = 300


@lru_cache(maxsize=1)
def _fast():
    return LanguageDetectorBuilder.from_languages(*LANGUAGES).with_low_accuracy_mode().build()


@lru_cache(maxsize=1)
def _accurate():
    return LanguageDetectorBuilder.from_languages(*LANGUAGES).build()


def detect(text: str, default: str = "und") -> str:
    """ISO 639-1 code of the text's language, or ``default`` when there is too little text."""
    sample = " ".join(text[:SAMPLE].split())
    if not sample:
        return default
    detector = _accurate() if len(sample) < SHORT else _fast()
    lang = detector.detect_language_of(sample)
    return lang.iso_code_639_1.name.lower() if lang else default
