"""Realistic comments for the benchmarks: 10 to 80 words, a few long ones, some Vietnamese.

Built from sentences a news site's readers write, shuffled with a fixed seed, so
every run scores the same texts. No downloads, no ../shared needed.
"""

from __future__ import annotations

import random

ENGLISH = [
    "The council should publish the full budget before the vote next week.",
    "I disagree with the author, the numbers in the second chart do not add up.",
    "What a clear explanation of the new traffic rules, thank you for writing it.",
    "My family has lived in this district for forty years and we have never seen floods like this.",
    "Will the new metro line stop at the central station or not?",
    "Nobody asked the people who actually live next to the construction site.",
    "This is exactly why young people are leaving the countryside for the cities.",
    "The minister's answer did not address the question about hospital waiting lists.",
    "Prices at the market have doubled since last spring and wages have not moved at all.",
    "I remember when this bridge was built, it was supposed to last a hundred years.",
    "Good reporting, but you should have asked the company for a comment.",
    "Teachers deserve better pay, they are the reason any of us can read this article.",
    "The photos of the old quarter are beautiful, please do more stories like this.",
    "Why does every article about the economy ignore the people who work in the informal sector?",
    "The traffic on the ring road is worse than ever and the new flyover made it worse.",
    "I visited the museum last weekend and it was crowded with school groups, which was lovely.",
    "This policy will hurt small shops while the big chains will simply pass the cost on.",
    "Can someone explain how the new tax applies to freelancers?",
    "The referee made three terrible decisions and the league should review the match.",
    "Climate change is not a distant problem, the river near my village is already drying up.",
    "I think the mayor is doing a decent job given how little money the city has.",
    "The article mixes up two different laws, please correct it.",
    "We need more bike lanes and fewer parking lots in the city centre.",
    "Honestly this is the most balanced piece I have read on the subject all year.",
    "The hospital staff were kind to my mother even though they were clearly exhausted.",
    "These so-called experts have been wrong about everything for a decade.",
    "You people will believe anything the government tells you, it is pathetic.",
    "Shut up and stop writing garbage, nobody reads this rubbish anyway.",
    "The school closures were handled badly and the children paid the price.",
    "Let the farmers set their own prices instead of the middlemen.",
]

VIETNAMESE = [
    "Bài viết hay quá, cảm ơn tác giả đã phân tích rất kỹ.",
    "Chính phủ cần minh bạch hơn về giá xăng dầu trong thời gian tới.",
    "Giá nhà ở thành phố bây giờ quá cao so với thu nhập của người lao động.",
    "Tôi không đồng ý với quan điểm của bài báo này.",
    "Đường sá ở quê tôi đã được nâng cấp nhiều so với mười năm trước.",
    "Mong các cơ quan chức năng sớm vào cuộc xử lý dứt điểm.",
    "Giáo viên vùng cao thật sự vất vả, cần được quan tâm nhiều hơn.",
    "Tắc đường giờ cao điểm ngày càng nghiêm trọng.",
]


def _build(rng: random.Random, sentences: list[str], low: int, high: int) -> str:
    target = rng.randint(low, high)
    words: list[str] = []
    while len(words) < target:
        words += rng.choice(sentences).split()
    return " ".join(words[:target]).rstrip(",") + "."


def comments(n: int, seed: int = 7) -> list[dict[str, object]]:
    """``n`` comments: about 88% English of 10-80 words, 2% long (200-300), 10% Vietnamese."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.10:
            text, language = _build(rng, VIETNAMESE, 10, 60), "vi"
        elif roll < 0.12:
            text, language = _build(rng, ENGLISH, 200, 300), "en"
        else:
            text, language = _build(rng, ENGLISH, 10, 80), "en"
        out.append({"body": text, "language": language, "author_id": f"reader-{i % 97}"})
    return out
