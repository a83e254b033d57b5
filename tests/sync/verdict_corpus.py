"""A deterministic corpus for comparing the server's and a mirror's verdicts: entries of every
matching kind (numbers, landlines, codes, ranges, keywords, domains, URLs) published by a
carrier (tier block), an internet firm (tier label) or both, and messages whose senders and
texts hit them in the ways a check reads them (formats of a number, numbers and codes under a
range, keywords spaced out or in capitals, URLs under a listed one, hosts under a listed
domain, scheme-less links) or miss them. No allowlist: a mirror holds none (README, Sync
client), so the corpus stays off it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

ZH = "安全账户刷单返利贷款秒批无抵押退款理赔中奖领取验证码冻结解冻公检法通缉洗钱客服快递积分兑换医保征信修复注销"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
TLDS = ["com", "cn", "net", "top", "xyz", "vip", "com.cn", "cc"]
FILLER = [
    "您好，",
    "尊敬的用户：",
    "您的包裹已到达，",
    "本月账单已出，",
    "请于今日内处理，",
    "详情请咨询，",
    "感谢您的支持。",
    "Hello, ",
    "your order has shipped. ",
    "Reply TD to unsubscribe. ",
    "会议改到下午三点。",
    "明天见！",
    "（退订回T）",
    " ",
]


@dataclass
class Corpus:
    numbers: list[str] = field(default_factory=list)  # mobile digits, 11
    landlines: list[str] = field(default_factory=list)  # "010-62345678"
    codes: list[str] = field(default_factory=list)
    mobile_ranges: list[str] = field(default_factory=list)  # 7-digit prefix + xxxx
    code_ranges: list[str] = field(default_factory=list)  # prefix + xx
    open_ranges: list[str] = field(default_factory=list)  # prefix* (regulator only)
    keywords: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def items(self) -> list[tuple[str, str]]:
        """Every (kind, value) to publish, in a fixed order."""
        out = [("number", v) for v in self.numbers + self.landlines] + [("code", v) for v in self.codes]
        out += [("range", v) for v in self.mobile_ranges + self.code_ranges + self.open_ranges]
        out += [("keyword", v) for v in self.keywords] + [("domain", v) for v in self.domains]
        return out + [("url", v) for v in self.urls]


def _word(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(length))


def _distinct(rng: random.Random, make, count: int) -> list[str]:
    seen: dict[str, None] = {}
    while len(seen) < count:
        seen.setdefault(make(rng), None)
    return list(seen)


def entries(seed: int, scale: int = 1) -> Corpus:
    rng = random.Random(seed)
    c = Corpus()
    c.numbers = _distinct(rng, lambda r: f"1{r.choice('3456789')}{r.randrange(10**9):09d}", 300 * scale)
    c.landlines = _distinct(rng, lambda r: f"0{r.choice(['10', '21', '755'])}-6{r.randrange(10**6):06d}", 40 * scale)
    c.codes = _distinct(
        rng, lambda r: r.choice([f"1069{r.randrange(10**4):04d}", f"95{r.randrange(10**3):03d}"]), 120 * scale
    )
    c.mobile_ranges = _distinct(rng, lambda r: f"1{r.choice('3456789')}{r.randrange(10**5):05d}xxxx", 40 * scale)
    c.code_ranges = _distinct(rng, lambda r: f"1068{r.randrange(10**4):04d}xx", 30 * scale)
    c.open_ranges = ["10655*", "952888*"]
    c.keywords = _distinct(
        rng,
        lambda r: (
            "".join(r.sample(ZH, r.choice([3, 4, 5])))
            if r.random() < 0.7
            else "".join(r.choice(LETTERS) for _ in range(r.choice([6, 7, 8])))
        ),
        200 * scale,
    )
    c.domains = _distinct(rng, lambda r: _word(r, r.choice([5, 7, 9])) + "." + r.choice(TLDS), 100 * scale)

    def url(r: random.Random) -> str:
        host = "".join(r.choice(LETTERS) for _ in range(8)) + "." + r.choice(TLDS)
        if r.random() < 0.3:  # a path on a listed domain's subdomain
            host = "www." + r.choice(c.domains)
        path = "/".join("".join(r.choice(LETTERS) for _ in range(4)) for _ in range(r.choice([1, 2])))
        return f"{r.choice(['http', 'https'])}://{host}/{path}/"

    c.urls = _distinct(rng, url, 100 * scale)
    return c


def _spaced(word: str, rng: random.Random) -> str:
    how = rng.random()
    if how < 0.25:
        return " ".join(word)  # spaces between the characters
    if how < 0.4:
        return word.upper()
    if how < 0.5:
        return "\u200b".join(word)  # zero-width spaces
    return word


def _number_format(digits: str, rng: random.Random) -> str:
    spaced, dashed = f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}", f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    return rng.choice([digits, spaced, dashed])


def _sender(c: Corpus, rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.25:
        return _number_format(rng.choice(c.numbers), rng)
    if roll < 0.35:
        return rng.choice(c.mobile_ranges)[:7] + f"{rng.randrange(10**4):04d}"  # under a range
    if roll < 0.45:
        return rng.choice(c.codes)
    if roll < 0.5:
        return rng.choice(c.code_ranges)[:8] + f"{rng.randrange(100):02d}"
    if roll < 0.53:
        return rng.choice(c.open_ranges)[:-1] + f"{rng.randrange(10**3):03d}"
    if roll < 0.58:
        return rng.choice(c.landlines)
    if roll < 0.75:
        return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"  # most likely unlisted
    if roll < 0.85:
        return f"1069{rng.randrange(10**5):05d}"
    return None


def _link(c: Corpus, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.25:
        return rng.choice(c.urls)
    if roll < 0.4:
        return rng.choice(c.urls) + "deeper/page.html?x=1"
    if roll < 0.6:
        return f"http://{rng.choice(['a', 'login', 'm.pay'])}.{rng.choice(c.domains)}/x"
    if roll < 0.75:
        return rng.choice(c.domains) + "/" + "".join(rng.choice(LETTERS) for _ in range(3))
    return f"https://ok{rng.randrange(10**4)}.example.com/"


def messages(c: Corpus, count: int, seed: int) -> list[tuple[str | None, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        parts = [rng.choice(FILLER) for _ in range(rng.randint(1, 4))]
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            parts.insert(rng.randrange(len(parts) + 1), _spaced(rng.choice(c.keywords), rng))
        for _ in range(rng.choice([0, 0, 1, 2])):
            parts.insert(rng.randrange(len(parts) + 1), " " + _link(c, rng) + " ")
        out.append((_sender(c, rng), "".join(parts)))
    return out


def bulk_publish(client, headers, items, **fields):
    """Publish (kind, value) items in bulk requests of 5,000."""
    for start in range(0, len(items), 5_000):
        chunk = [{"kind": k, "value": v, "reason": "corpus", **fields} for k, v in items[start : start + 5_000]]
        response = client.post("/v1/entries/bulk", json={"items": chunk}, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)


def publish_corpus(client, callers, items, rng, **carrier_fields):
    """Each item by a carrier (block), an internet firm (label) or both; open ranges by the
    regulator; the carrier's reports carry `carrier_fields` (evidence, say). Returns the items
    only the internet firm reported (label only)."""
    carrier, internet, label_only = [], [], []
    for kind, value in items:
        if kind == "range" and value.endswith("*"):
            bulk_publish(client, callers["regulator"], [(kind, value)])
            continue
        roll = rng.random()
        (carrier if roll < 0.5 else internet).append((kind, value))
        if roll >= 0.9:
            carrier.append((kind, value))
        elif roll >= 0.5:
            label_only.append((kind, value))
    bulk_publish(client, callers["carrier"], carrier, **carrier_fields)
    bulk_publish(client, callers["internet"], internet)
    return label_only
