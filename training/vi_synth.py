"""A generator of made-up Vietnamese news comments, clean and toxic, for simulations only.

Everything here is written for this file (no word list or data set is read). Comments
are built from templates over small vocabularies: topics of a news site, praise,
civil criticism (negative words that are not abuse), everyday words that look like
abuse without diacritics (``ngủ``/``ngu``, ``lon bia``, ``con chó nhà tôi``), and abuse:
insults, obscenities and chat abbreviations, threats and harassment, slurs against
groups. Then the ways people type: a third without diacritics, teen-code (``ko``,
``dc``, ``j``), chat spellings of obscenities (``đ.m``, ``d!t``, ``nguuu``), shouting.

``split_vocabulary`` keeps a share of every list out of the training stream, so that
held-out rows also carry words no label ever showed (a learner must generalise from
n-grams, not recall the exact list).

It is a toy: real comments are longer, more varied and mostly about something. Figures
measured on it show how the learner's quality grows with labels, not what it will reach.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from service.comments.text import strip_diacritics

TOPICS = [
    "bài viết",
    "tác giả",
    "phóng viên",
    "chính quyền",
    "thành phố",
    "giá xăng",
    "giá nhà",
    "giá vàng",
    "đội tuyển",
    "huấn luyện viên",
    "bộ trưởng",
    "dự án này",
    "cầu vượt",
    "bệnh viện",
    "trường học",
    "giáo viên",
    "học sinh",
    "công ty",
    "ngân hàng",
    "cảnh sát giao thông",
    "người dân",
    "ủy ban tỉnh",
    "sân bay",
    "đường sắt cao tốc",
    "chương trình",
    "ca sĩ",
    "trận đấu",
    "bộ phim",
    "quy định mới",
    "thuế thu nhập",
]
PRAISE = [
    "rất hay",
    "quá tuyệt vời",
    "hữu ích lắm",
    "đáng đọc",
    "cảm ơn tác giả",
    "chúc mừng",
    "tôi ủng hộ",
    "mong có thêm bài như thế này",
    "thông tin bổ ích",
    "làm tốt lắm",
    "xứng đáng",
    "phân tích rất kỹ",
    "đúng quá",
    "viết có tâm",
    "rất cảm động",
    "hay thật sự",
]
CRITICISM = [
    "không hợp lý",
    "cần xem xét lại",
    "thật đáng thất vọng",
    "làm việc quá chậm",
    "quá kém",
    "tôi không đồng ý",
    "lãng phí tiền thuế",
    "phải chịu trách nhiệm",
    "cần minh bạch hơn",
    "vô lý quá",
    "tệ quá",
    "đắt quá",
    "chán thật",
    "thiếu chuyên nghiệp",
    "nói một đằng làm một nẻo",
    "chưa thuyết phục",
    "sai từ đầu",
    "dân khổ lắm rồi",
]
# Everyday words that share letters with abuse (most of all once the diacritics go).
FALSE_FRIENDS = [
    "tối qua ngủ ngon",
    "uống một lon bia",
    "con chó nhà tôi rất khôn",
    "má tôi nấu ăn ngon",
    "mẹ tôi nói đúng",
    "thằng bé nhà tôi thích đọc báo",
    "chờ mãi mới có tin",
    "đồ ăn ở đây ngon",
    "con bò nhà bác tôi",
    "cu tí nhà tôi mới đi học",
    "đi chợ mua cá",
    "chết cười với bình luận này",
    "nóng chết đi được",
]
INSULTS = [
    "đồ ngu",
    "ngu như bò",
    "ngu như chó",
    "óc chó",
    "óc lợn",
    "thằng mất dạy",
    "đồ khốn nạn",
    "đồ rác rưởi",
    "não tôm",
    "thằng điên",
    "đồ súc vật",
    "đồ chó má",
    "thằng hề",
    "lũ ăn hại",
    "đồ vô học",
    "thằng ngu",
    "đồ mặt dày",
    "đồ bẩn thỉu",
    "đồ hèn",
    "con khốn",
]
OBSCENE = [
    "đm",
    "vcl",
    "vl",
    "đéo",
    "địt mẹ",
    "vãi lồn",
    "đụ má",
    "đcm",
    "con mẹ mày",
    "cặc",
    "lồn",
    "vãi cả đái",
]
HARASSMENT = [
    "câm mồm",
    "cút đi",
    "biến đi",
    "tao đánh chết mày",
    "mày liệu hồn",
    "coi chừng tao",
    "đi chết đi",
    "im mồm lại",
    "tao biết nhà mày",
    "xéo đi",
]
HATE = [
    "bọn bắc kỳ",
    "lũ nam kỳ",
    "bọn ba que",
    "lũ mọi rợ",
    "bọn nhà quê",
    "lũ đồng bóng",
]
ADDRESS = ["mày", "thằng này", "con này", "bọn mày", "chúng mày", "tụi bây", "mấy thằng"]
FILLERS = ["thật sự", "mình thấy", "theo tôi", "nói chung", "haizz", "ôi", "hic", "nói thật"]
ENDINGS = ["", "", "", " nhỉ", " nhé", " đấy", " à", " lắm", "!", "!!!", "...", " :)"]
TEEN_CODE = {
    "không": ["ko", "k", "hông"],
    "được": ["dc", "đc"],
    "gì": ["j"],
    "vậy": ["z", "vậy"],
    "quá": ["wa", "qá"],
    "biết": ["bít"],
}
# How obscenities get past filters: dotted, leet, repeated letters.
CHAT_SPELLINGS = {
    "đm": ["đ.m", "d.m", "dm", "đmmm"],
    "địt": ["d!t", "đ1t", "djt"],
    "ngu": ["nguuu", "ngu~"],
    "lồn": ["l0n", "l*n", "lìn"],
    "vcl": ["vkl", "vcll"],
    "chó": ["chóoo", "cho'"],
}

VOCABULARIES = {
    "topics": TOPICS,
    "praise": PRAISE,
    "criticism": CRITICISM,
    "false_friends": FALSE_FRIENDS,
    "insults": INSULTS,
    "obscene": OBSCENE,
    "harassment": HARASSMENT,
    "hate": HATE,
    "address": ADDRESS,
}


@dataclass(frozen=True)
class Row:
    text: str
    toxic: bool
    #: typed without diacritics
    unaccented: bool


def split_vocabulary(
    seed: int, held_out: float
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(the words the training stream may use, every word), per vocabulary."""
    rng = random.Random(seed)
    seen: dict[str, list[str]] = {}
    for name, words in VOCABULARIES.items():
        shuffled = list(words)
        rng.shuffle(shuffled)
        keep = max(1, round(len(shuffled) * (1 - held_out)))
        seen[name] = shuffled[:keep]
    return seen, {name: list(words) for name, words in VOCABULARIES.items()}


class Generator:
    """Made-up comments from one vocabulary; ``toxic_share`` of them abusive."""

    def __init__(
        self, vocabulary: dict[str, list[str]], rng: random.Random, unaccented_share: float = 0.33
    ) -> None:
        self.v = vocabulary
        self.rng = rng
        self.unaccented_share = unaccented_share

    def pick(self, name: str) -> str:
        return self.rng.choice(self.v[name])

    def opinion(self) -> str:
        return self.pick(self.rng.choice(["praise", "criticism"]))

    def clean(self) -> str:
        r = self.rng.random
        topic = self.pick("topics")
        kind = r()
        if kind < 0.35:
            text = f"{topic} {self.pick('praise')}"
        elif kind < 0.75:
            text = f"{topic} {self.pick('criticism')}"
        else:
            text = f"{self.pick('false_friends')}, {topic} {self.opinion()}"
        if r() < 0.3:
            text = f"{self.rng.choice(FILLERS)}, {text}"
        if r() < 0.3:
            text = f"{text}, {self.pick('topics')} {self.pick('criticism')}"
        return text

    def toxic(self) -> str:
        r = self.rng.random
        abuse = self.rng.choices(["insults", "obscene", "harassment", "hate"], [4, 3, 2, 1])[0]
        core = self.pick(abuse)
        if abuse in ("insults", "harassment") and r() < 0.6:
            core = (
                f"{self.pick('address')} {core}" if r() < 0.5 else f"{core} {self.pick('address')}"
            )
        kind = r()
        if kind < 0.4:
            text = f"{self.pick('topics')} {self.pick('criticism')}, {core}"
        elif kind < 0.7:
            text = f"{core}, {self.pick('topics')} {self.opinion()}"
        else:
            text = core
        if r() < 0.3:
            text = f"{text} {self.pick(self.rng.choice(['obscene', 'insults']))}"
        if r() < 0.15:
            text = f"{self.pick('false_friends')}, {text}"
        return text

    def typed(self, text: str) -> tuple[str, bool]:
        """How someone might type it: chat spellings, teen-code, no diacritics, shouting."""
        r = self.rng.random
        for word, spellings in CHAT_SPELLINGS.items():
            if word in text and r() < 0.5:
                text = text.replace(word, self.rng.choice(spellings), 1)
        for word, codes in TEEN_CODE.items():
            if word in text and r() < 0.4:
                text = text.replace(word, self.rng.choice(codes))
        text += self.rng.choice(ENDINGS)
        unaccented = r() < self.unaccented_share
        if unaccented:
            text = strip_diacritics(text, keep_case=True)
        if r() < 0.1:
            text = text.upper()
        elif r() < 0.7:
            text = text[:1].upper() + text[1:]
        return text, unaccented

    def row(self, toxic: bool) -> Row:
        text, unaccented = self.typed(self.toxic() if toxic else self.clean())
        return Row(text, toxic, unaccented)

    def rows(self, n: int, toxic_share: float) -> list[Row]:
        return [self.row(self.rng.random() < toxic_share) for _ in range(n)]
