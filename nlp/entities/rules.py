"""Disambiguation rules: the cases a naive alias matcher gets wrong.

Each rule looks only at the match and its sentence, so it is cheap and testable:
- phrases that contain an alias but are not the entity (``BLOCKERS``: Nanjing Road, People's
  Bank of China, the Great Wall of China, Medal of Honor, in vivo, Peking University, ...);
- a city name followed by Road/Street/Avenue/路/街, by "province"/省, by a dish (Peking duck,
  Lanzhou noodles), or qualified by a foreign place (Canton, Ohio; Anyang, South Korea);
- aliases that are also ordinary words or other names (Honor, vivo, Great Wall, MG, BOE,
  小米 "millet", 美的 "beautiful"): they count only with a cue of the entity's sector in the
  same sentence;
- one alias, two entities: Tsingtao the beer vs Qingdao the city, Changan the carmaker vs
  Chang'an the ancient name of Xi'an;
- a city inside the proper name of an institution, newspaper, exchange, event, building or
  company (Peking University, Shanghai Daily, Hong Kong Stock Exchange, Canton Fair, Beijing
  Capital International Airport, Qingdao Haier) is not a mention of the city: ``in_name`` says
  which kind of name, kept as the mention's sense ``in-name:<kind>`` so that an analyst who wants
  a city's fairs and home brands to count can still find them. Descriptive uses count as the city
  ("Qingdao-based", "a Hong Kong artist", "listed in Hong Kong").
"""

from __future__ import annotations

import re

BLOCKERS = [
    "Nanjing Road",
    "Nanking Road",
    "Beijing Road",
    "Peking Road",
    "Canton Road",
    "Shanghai Street",
    "Chang'an Avenue",
    "Changan Avenue",
    "Chang'an Street",
    "Suzhou Creek",
    "Suzhou River",
    "Hangzhou Bay",
    "People's Bank of China",
    "Great Wall of China",
    "the Great Wall",
    "Great Wall Street",
    "Medal of Honor",
    "Legion of Honor",
    "Honor Guard",
    "Honor Roll",
    "in vivo",
    "ex vivo",
    "In vivo",
    "Peking University",
    "Peking Union",
    "Peking duck",
    "Peking opera",
    "Peking Man",
    "Canton of",
    "Lanzhou noodles",
    "Lanzhou beef noodles",
    "Lanzhou ramen",
    "Yangzhou fried rice",
    "Hami melon",
    "Jinhua ham",
    "Shaoxing wine",
    "Hong Kong-style",
    "Macau-style",
    "Amoy Gardens",
    "Amoy sauce",
    "Beijing time",
    "北京时间",
    "北京時間",
    "Bank of England",
    "JD Vance",
    "JD Sports",
    "J.D. Vance",
    "JD Wetherspoon",
    "MG Rover",
    "南京路",
    "南京东路",
    "南京西路",
    "长安街",
    "北京路",
    "万里长城",
    "中国人民银行",
    "小米粥",
    "美的风景",
]

SECTOR_CUES = {
    "electronics": "phone phones smartphone smartphones handset handsets foldable laptop laptops tablet device devices "
    "chip chips launch launched launches unveiled model models brand shipments market",
    "autos": "car cars carmaker carmakers automaker automakers EV EVs electric vehicle vehicles SUV SUVs sedan "
    "hatchback dealer dealers dealership factory plant models brand sales deliveries tariffs",
    "appliances": "appliance appliances fridge refrigerator washing air-conditioner air conditioner TV TVs brand",
    "internet": "app apps platform users online company shares",
    "e-commerce": "online shoppers platform app retailer sellers orders",
    "finance": "bank banks lender lenders loans insurer insurance branch",
    "food & beverage": "beer brewery lager drink drinks brand sales coffee tea stores",
    "sportswear": "sportswear sneakers shoes trainers apparel brand stores",
    "ai": "AI model models chatbot startup",
}
# the same sectors in the other languages of overseas coverage (German, French, Spanish, Italian,
# Portuguese; Japanese and Korean are matched as substrings like Chinese): an ambiguous brand name
# in a non-English sentence needs a cue too, and English cues never appear there
SECTOR_CUES_OTHER = {
    "electronics": "Handy Smartphone Smartphones téléphone smartphone smartphones teléfono teléfonos móvil móviles "
    "telefono telefoni cellulare celular celulares marca marque Marke Hersteller fabricant fabricante "
    "スマホ スマートフォン 端末 스마트폰 휴대폰",
    "autos": "Auto Autos Fahrzeug Fahrzeuge Elektroauto Elektroautos Autobauer Hersteller Marke Modell voiture voitures "
    "véhicule véhicules constructeur marque modèle coche coches vehículo vehículos automóvil automotriz "
    "fabricante marca modelo auto veicolo veicoli casa automobilistica carro carros veículo veículos "
    "montadora 車 自動車 電気自動車 EV 자동차 전기차 완성차",
    "e-commerce": "Online-Händler Plattform plateforme plataforma piattaforma commerce électronique comercio "
    "electrónico 通販 電子商取引 이커머스 쇼핑",
    "food & beverage": "Getränk bière boisson bebida cerveza bevanda birra bebida cerveja 飲料 ビール 음료 맥주",
}
ZH_CUES = (
    "公司 集团 品牌 手机 汽车 新车 电动车 股价 股票 上市 发布 推出 销量 市场 门店 产品 电器 空调 "
    "冰箱 科技 雷军 车型 工厂 用户 订单 营收 财报"
).split()

_AFTER_STREET = re.compile(r"^\s*(?:Road|Rd\b|Street|St\b|Avenue|Ave\b|Lu\b|Boulevard|Blvd\b|Creek)", re.I)
_AFTER_PROVINCE = re.compile(r"^\s*(?:province|Province|prefecture)\b")
_AFTER_FOOD = re.compile(r"^\s*(?:duck|noodles?|ramen|fried rice|melon|ham\b|opera|wine)", re.I)
_AFTER_FOREIGN = re.compile(
    r"^,?\s+(?:Ohio|Georgia|Michigan|Massachusetts|Mass\.|Mississippi|Connecticut|Illinois|New York|N\.Y\.|Texas|"
    r"South Dakota|North Carolina|Missouri|Kentucky|Maine|Oklahoma|Pennsylvania|South Korea|Korea|Gyeonggi|"
    r"Taiwan|Japan|Malaysia|Indonesia|Philippines|Vietnam)\b"
)
_ZH_AFTER = re.compile(r"^(?:路|街|大道|省|区|區)")
_CAR = re.compile(
    r"\b(?:Automobile|Auto|Motors?|Ford|Mazda|Deepal|Avatr|car|cars|carmakers?|automakers?|EVs?|"
    r"electric|vehicles?|SUVs?|sedans?|dealers?|factory|plant)\b",
    re.I,
)
_HISTORY = re.compile(
    r"\b(?:ancient|Tang|Han|Qin|Zhou|dynasty|dynasties|Silk Road|imperial|emperors?|"
    r"capital of|centuries|century|BC|AD|walled|Xi'an)\b"
)
_BEER = re.compile(r"^\s*(?:beer|beers|brewery|Brewery|brewer|lager|bottles?)\b", re.I)
_CITY_BEFORE = re.compile(
    r"\b(?:in|at|to|from|near|port of|city of|occupied|German|Germans|known as|called|named)\s+$", re.I
)
_CITY_AFTER = re.compile(r"^,\s*(?:China|Shandong)\b")

# a city followed (after at most three capitalised words) by the head noun of a proper name
_NAME_WORDS = r"(?:\s+(?:[A-Z0-9][\w'’.&-]*|of|and|for|&))*?"
IN_NAME_AFTER = [
    (kind, re.compile(r"^" + _NAME_WORDS + r"\s+(?:" + heads + r")\b"))
    for kind, heads in (
        (
            "institution",
            r"University|College|Institute|Academy|Hospital|Museum|Zoo|Library|Conservatory|Observatory|"
            r"School|Municipal|Commission|Bureau|Court|Customs|Administration|Authority|Consulate|Embassy",
        ),
        (
            "media",
            r"Daily|Evening News|News|Times|Post|Herald|Radio|Television|TV|Broadcasting|Weekly|Gazette|"
            r"Today|Journal|Observer|Review|Magazine",
        ),
        ("exchange", r"Stock Exchange|Exchange|Futures Exchange|Stock Connect|Hang Seng|Index|[Ss]tock [Ee]xchanges?"),
        (
            "event",
            r"Fair|Expo|Festival|Auto Show|Motor Show|Air Show|Airshow|Marathon|Olympics|Olympic Games|Games|"
            r"Biennale|Film Festival|Book Fair|Fashion Week|Masters|Open|Summit|Forum|Massacre|Incident|"
            r"Agreement|Accord|Treaty|Declaration|Consensus|Protocol|Convention",
        ),
        (
            "building",
            r"International Airport|Airport|Railway Station|Station|Tower|Stadium|Disneyland|Disney Resort|"
            r"Free Trade Zone|FTZ|Pilot Free Trade Zone|Center|Centre",
        ),
        (
            "company",
            r"Automobile|Automotive|Motors?|Airlines?|Airways|Group|Holdings?|Co\b|Co\.|Corp\b|Corp\.|"
            r"Corporation|Company|Ltd|Limited|Inc\b|Pharmaceuticals?|Technolog(?:y|ies)|Electric|Electronics|"
            r"Industr(?:y|ies)|Investment|Securities|Steel|Shipyard|Metro|Subway|Port Group|Brewery|FC|F\.C\.",
        ),
    )
] + [("currency", re.compile(r"^\s+(?:dollars?|Dollars?|\$)"))]
IN_NAME_BEFORE = re.compile(
    r"\b(?:(?P<event>Treaty|Convention|Battle|Siege)|University|Bank|Museum|Academy|Institute|"
    r"Polytechnic University|Port Authority) of\s+$"
)
# inside a company's name after its other words: "LMC Automotive Shanghai", "Cosco Shipping Tanker (Dalian) Co"
_AFTER_COMPANY_WORD = re.compile(r"\b(?:Automotive|Motors?|Shipping|Capital|Securities|Partners|Holdings)\s+$")
_PARENTHESISED = (re.compile(r"\(\s*$"), re.compile(r"^\s*\)\s+[A-Z]"))
# a hyphenated chain of places naming a route or crossing: the Hefei-Fuzhou high-speed railway,
# the Hong Kong-Zhuhai-Macau Bridge, Ningbo-Zhoushan port
_ROUTE_HEAD = re.compile(
    r"^(?:[-‐–][A-Z][\w'’]*(?:\s[A-Z][\w'’]*)?)*\s+(?:high-speed\s+)?(?:rail(?:way)?|Railway|Rail|"
    r"[Bb]ridge|[Ee]xpressway|[Hh]ighway|[Ll]ine|[Pp]ipeline|[Cc]anal|[Pp]ort|[Cc]orridor)\b"
)
IN_NAME_ZH = re.compile(
    r"^(?:[\u4e00-\u9fff](?<!的)){0,4}?(?:大学|大學|日报|日報|晚报|晚報|时报|時報|商报|青年报|青年報|"
    r"电视台|電視台|证券交易所|證券交易所|交易所|车展|車展|博览会|博覽會|交易会|交易會|马拉松|馬拉松|"
    r"奥运会|奧運會|机场|機場|地铁|地鐵|啤酒节|啤酒節|电影节|電影節)"
)


def in_name(before: str, after: str, zh: bool) -> str | None:
    """The kind of proper name a city match sits inside (institution, media, exchange, event,
    building, company, currency), or None when it names the city itself."""
    if zh:
        return "institution" if IN_NAME_ZH.match(after) else None
    if m := IN_NAME_BEFORE.search(before):
        return "event" if m.group("event") else "institution"
    if re.match(r"^[-‐]based\b|^\s+(?:city|City)\b", after):
        return None
    if _AFTER_COMPANY_WORD.search(before) or (_PARENTHESISED[0].search(before) and _PARENTHESISED[1].match(after)):
        return "company"
    if (re.search(r"[A-Z][\w'’]*[-‐–]$", before) or re.match(r"^[-‐–][A-Z]", after)) and _ROUTE_HEAD.match(after):
        return "building"
    return next((kind for kind, pattern in IN_NAME_AFTER if pattern.match(after)), None)


GOVERNMENT_AFTER = re.compile(
    r"^(?:'s\s+(?:government|leaders?|leadership|policy|policies|response|crackdown|stance|position|claims?|"
    r"ambitions?|influence|officials|authorities|rule)|\s+(?:said|says|has|have|had|accused|accuses|warned|warns|"
    r"urged|urges|denied|denies|condemned|condemns|responded|retaliated|imposed|insisted|insists|wants|announced|"
    r"claims|claimed|rejected|protested|vowed|pledged|hit back|is pushing|has been|sees|views|would|will|could|"
    r"may|might|must|sought|seeks|opposes|opposed|approved|blocked|banned|restricted|sanctioned))\b"
)
GOVERNMENT_BEFORE = re.compile(
    r"(?:\b(?:Washington|Tokyo|Moscow|Brussels|London|Taipei|Canberra|New Delhi|Delhi|Seoul|Paris|Berlin|Ottawa|"
    r"Manila|Hanoi) and|\b(?:between|with|to|from|against|by|toward|towards) (?:Washington and )?)\s*$"
)


def has_cue(sentence: str, cues: tuple[str, ...] | list[str], sector: str | None, zh: bool) -> bool:
    other = SECTOR_CUES_OTHER.get(sector or "", "").split()
    if zh:
        return any(c in sentence for c in (*cues, *ZH_CUES, *other))
    words = list(cues) + SECTOR_CUES.get(sector or "", "").split() + other
    return any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", sentence) for w in words)


def city_rejected(after: str, zh: bool) -> str | None:
    """Why a city match is not the city (a street, a province, a dish, a foreign place)."""
    if zh:
        return "street or province" if _ZH_AFTER.match(after) else None
    if _AFTER_STREET.match(after):
        return "street name"
    if _AFTER_PROVINCE.match(after):
        return "province"
    if _AFTER_FOOD.match(after):
        return "dish"
    if _AFTER_FOREIGN.match(after):
        return "foreign place"
    return None


def tsingtao(before: str, after: str) -> str:
    """'brand' or 'city' for a bare Tsingtao."""
    if _BEER.match(after):
        return "brand"
    if _CITY_BEFORE.search(before) or _CITY_AFTER.match(after):
        return "city"
    return "brand"  # overseas text today: the beer


def changan(alias: str, sentence: str, after: str) -> str | None:
    """'brand', 'city' (Chang'an, the ancient name of Xi'an) or None for a bare Changan/Chang'an."""
    if _CAR.search(sentence) or re.match(r"^\s*(?:Automobile|Auto|Ford|Mazda)\b", after):
        return "brand"
    if _HISTORY.search(sentence):
        return "city"
    return "brand" if "'" not in alias and "’" not in alias else None


def is_government(before: str, after: str) -> bool:
    """'Beijing said...', 'ties with Beijing': the capital standing for the government."""
    return bool(GOVERNMENT_AFTER.match(after) or GOVERNMENT_BEFORE.search(before))
