"""Mention finding: the catalogue, and every disambiguation case a naive matcher gets wrong,
on real sentences (NewsMTSC, the seed articles) and written ones, in English, Chinese and
mixed text. Foreign cities and companies are never tagged."""

from __future__ import annotations

import pytest

from nlp.entities.catalogue import load_catalogue
from nlp.entities.matcher import MentionFinder


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


@pytest.fixture(scope="module")
def finder(catalogue):
    return MentionFinder(catalogue)


def tags(finder, text):
    return [(m.text, m.entity_id) for m in finder.find(text)]


def test_catalogue_covers_every_prefecture_level_city_and_150_brands(catalogue):
    cities = catalogue.of_type("city")
    assert len([c for c in cities if c.attrs["level"] == "prefecture-level city"]) == 293
    assert {c.attrs["level"] for c in cities} == {"prefecture-level city", "municipality", "SAR"}
    assert len(cities) == 299
    assert all(c.attrs["geonameid"] for c in cities), "every city is joined to GeoNames"
    assert len(catalogue.of_type("brand")) >= 150
    xian = catalogue["city:xian"]
    aliases = {a.text for a in xian.aliases}
    assert {"Xi'an", "Xian", "Xī'ān", "西安", "西安市", "Sian"} <= aliases
    assert xian.attrs["province"] == "Shaanxi" and xian.attrs["tier"] == "new-1" and xian.attrs["population"] > 1e6
    assert "蓉城" in {a.text for a in catalogue["city:chengdu"].aliases}
    assert catalogue["brand:byd"].attrs["home"] == "city:shenzhen"


def test_brands_400_with_sub_brands_as_entities_linked_to_their_parent(catalogue):
    import yaml

    from nlp.entities.catalogue import CATALOGUE_DIR

    brands = catalogue.of_type("brand")
    assert len(brands) >= 400
    # every parent link points at a catalogued brand, and no name belongs to two entities
    # (but the two deliberate ones the rules settle: Tsingtao, Changan)
    assert all(catalogue.parent_of(b.id) for b in brands if b.attrs.get("parent"))
    owners: dict[str, set] = {}
    for e in catalogue.entities.values():
        for a in e.aliases:
            owners.setdefault(a.text, set()).add(e.id)
    assert {t for t, ids in owners.items() if len(ids) > 1} == {"Tsingtao", "Changan"}
    # every addition names its source
    text = (CATALOGUE_DIR / "brands.yaml").read_text(encoding="utf-8")
    added = [
        yaml.safe_load(ln[2:]) for ln in text.split("# --- added 2026-12", 1)[1].splitlines() if ln.startswith("- {")
    ]
    assert len(added) >= 400 - 196 and all(row.get("source") for row in added)
    rollup = catalogue.rollup("brand")
    assert rollup["brand:wechat"] == "brand:tencent" and rollup["brand:haval"] == "brand:greatwall"
    assert rollup["brand:labubu"] == "brand:popmart" and "brand:tencent" not in rollup


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Tencent's WeChat and Alibaba's Alipay rival in Southeast Asia.",
            [
                ("Tencent", "brand:tencent"),
                ("WeChat", "brand:wechat"),
                ("Alibaba", "brand:alibaba"),
                ("Alipay", "brand:alipay"),
            ],
        ),
        (
            "Great Wall Motor's Haval H6 and the GWM Ora 03 are sold in Thailand.",
            [("Great Wall Motor", "brand:greatwall"), ("Haval", "brand:haval"), ("GWM Ora", "brand:ora")],
        ),
        (
            "Chery's Omoda and Jaecoo brands opened 40 UK dealers.",
            [("Chery", "brand:chery"), ("Omoda", "brand:omoda"), ("Jaecoo", "brand:jaecoo")],
        ),
        (
            "Labubu dolls from Pop Mart sold out; shoppers queued at Taobao and on Douyin.",
            [
                ("Labubu", "brand:labubu"),
                ("Pop Mart", "brand:popmart"),
                ("Taobao", "brand:taobao"),
                ("Douyin", "brand:douyin"),
            ],
        ),
        ("Ora said it would stay in Milan, while Molly and Kling were names of the two dogs.", []),  # ambiguous, no cue
    ],
)
def test_sub_brands_and_platforms_are_entities_of_their_own(finder, text, expected):
    assert tags(finder, text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        # an ambiguous name with no sector word of its own counts as an item of a list of brands
        (
            "Products from 21 other companies, including Mengniu, Yili, and Yashili, were tested.",
            [("Mengniu", "brand:mengniu"), ("Yili", "brand:yili"), ("Yashili", "brand:yashili")],
        ),
        (
            "Destacan NYD, Chirey, Omoda, Geely, Great Wall Motors, JMC, BAIC y SEV.",
            [
                ("Chirey", "brand:chirey"),
                ("Omoda", "brand:omoda"),
                ("Geely", "brand:geely"),
                ("Great Wall Motors", "brand:greatwall"),
                ("JMC", "brand:jmc"),
                ("BAIC", "brand:baic"),
            ],
        ),
        # ...but not on its own, nor next to a word that is no brand
        ("The Yili river valley floods every spring.", []),
        ("He visited Yili, the valley he grew up in.", []),
    ],
)
def test_a_list_of_brands_is_the_cue_for_an_ambiguous_one(finder, text, expected):
    assert tags(finder, text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        # Korean writes particles onto names; Japanese writes foreign names in katakana
        (
            "중국 온라인 쇼핑몰 알리익스프레스가 과징금을 부과받았습니다. 테무의 경우 추가로 확인한다.",
            [("알리익스프레스", "brand:aliexpress"), ("테무", "brand:temu")],
        ),
        (
            "샤오미와 화웨이는 BYD의 경쟁자다.",
            [("샤오미", "brand:xiaomi"), ("화웨이", "brand:huawei"), ("BYD", "brand:byd")],
        ),
        (
            "ファーウェイとシャオミが新型スマホを発表した。",
            [("ファーウェイ", "brand:huawei"), ("シャオミ", "brand:xiaomi")],
        ),
        ("무테무는 없다.", []),  # inside another word: not a name
    ],
)
def test_japanese_and_korean_names(finder, text, expected):
    assert tags(finder, text) == expected


@pytest.mark.parametrize(
    "text, kind",
    [
        ("He studied at Wuhan University before joining Huawei.", "institution"),
        ("The company filed with the Hong Kong Stock Exchange on Monday.", "exchange"),
        ("SMIC is listed on both the Shanghai and Hong Kong stock exchanges.", "exchange"),
        ("Buyers crowded the Canton Fair this spring.", "event"),
        ("The Qingdao International Beer Festival drew six million visitors.", "event"),
        ("The Treaty of Nanking ended the war.", "event"),
        ("According to the Shanghai Daily, prices rose.", "media"),
        ("Flights from Beijing Capital International Airport were cancelled.", "building"),
        ("The Hefei-Fuzhou high-speed railway opened in 2015.", "building"),
        ("Qingdao Haier bought the appliance maker.", "company"),
        ("Cosco Shipping Tanker (Dalian) Co was sanctioned.", "company"),
        ("The Hong Kong dollar weakened.", "currency"),
        ("他毕业于北京大学。", "institution"),
    ],
)
def test_a_city_inside_a_name_is_not_a_mention_but_a_labelled_sense(catalogue, text, kind):
    from nlp.tagger import Tagger

    tagged = Tagger(catalogue, sentiment=False).tag(text)
    assert [m.type for m in tagged.mentions if m.type == "city"] == []
    assert tagged.in_names and all(m.sense == f"in-name:{kind}" for m in tagged.in_names if m.type == "city")
    assert tagged.as_dict()["in_names"][0]["sense"] == f"in-name:{kind}"


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "The Qingdao-based company hired a Hong Kong artist.",
            [("Qingdao", "city:qingdao"), ("Hong Kong", "city:hongkong")],
        ),
        (
            "Shares listed in Hong Kong rose; the university in Beijing reopened.",
            [("Hong Kong", "city:hongkong"), ("Beijing", "city:beijing")],
        ),
        ("BYD opened a plant in Shenzhen City last year.", [("BYD", "brand:byd"), ("Shenzhen", "city:shenzhen")]),
    ],
)
def test_descriptive_uses_of_a_city_still_count(finder, text, expected):
    assert [(t, e) for t, e in tags(finder, text)] == expected
    assert all(m.sense is None for m in finder.find(text))


@pytest.mark.parametrize(
    "query, entity_id",
    [
        ("Chungking", "city:chongqing"),
        ("重庆", "city:chongqing"),
        ("city:chongqing", "city:chongqing"),
        ("Peking", "city:beijing"),
        ("Canton", "city:guangzhou"),
        ("Tientsin", "city:tianjin"),
        ("Nanking", "city:nanjing"),
        ("Amoy", "city:xiamen"),
        ("Hangchow", "city:hangzhou"),
        ("Soochow", "city:suzhou"),
        ("Mukden", "city:shenyang"),
        ("Swatow", "city:shantou"),
        ("Foochow", "city:fuzhou"),
        ("比亚迪", "brand:byd"),
        ("長沙", "city:changsha"),
        ("華為", "brand:huawei"),
    ],
)
def test_resolve_any_alias(catalogue, query, entity_id):
    assert catalogue.resolve(query).id == entity_id


REAL = [  # NewsMTSC rows and seed sentences: real published text
    (
        "He gave no details and didn't directly address Trump's complaint that Beijing improperly pressures "
        "foreign companies to hand over technology.",
        [("Beijing", "city:beijing")],
    ),
    (
        "Beijing-based Luckin Coffee said in a filing Monday that it wants to sell shares on the Nasdaq as part of "
        "its ambitious expansion plans.",
        [("Beijing", "city:beijing"), ("Luckin Coffee", "brand:luckin")],
    ),
    (
        "Abigail Spanberger, a former CIA officer and a freshman Democrat from Virginia, is introducing a bill to "
        "strengthen protections for U.S. telecom systems from foreign influence by companies like Huawei.",
        [("Huawei", "brand:huawei")],
    ),
    (
        "The Dalian summit was also significant in that Xi was expected to visit Pyongyang prior to Kim returning "
        "to China.",
        [("Dalian", "city:dalian")],
    ),
    ("One was held on Nov. 1 following the increase in robberies with Asian victims, Macaulay said.", []),
    (
        "The private equity firm of Hunter Biden invested in one of the Chinese companies that created the "
        "Xinjiang surveillance state nightmare.",
        [],
    ),
]


@pytest.mark.parametrize("text, expected", REAL)
def test_real_sentences(finder, text, expected):
    assert tags(finder, text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        # Tsingtao the beer vs Qingdao the city
        ("He ordered a Tsingtao with his dumplings.", [("Tsingtao", "brand:tsingtao")]),
        ("Sales of Tsingtao beer fell after the video.", [("Tsingtao beer", "brand:tsingtao")]),
        ("In 1898 Germany leased the port of Tsingtao.", [("Tsingtao", "city:qingdao")]),
        ("Regulators in Qingdao opened an inquiry.", [("Qingdao", "city:qingdao")]),
        # Great Wall Motor vs the Great Wall
        ("Great Wall Motor will build SUVs in Brazil.", [("Great Wall Motor", "brand:greatwall")]),
        ("Tourists walked along the Great Wall at Mutianyu.", []),
        ("The Great Wall of China is visible from the hills.", []),
        ("Great Wall recalled 40,000 pickups, the carmaker said.", [("Great Wall", "brand:greatwall")]),
        # honor / vivo / Li as ordinary words
        ("The ceremony was held in honor of the victims.", []),
        ("She received the Medal of Honor.", []),
        ("Honor launched the Magic8 Pro smartphone in London.", [("Honor", "brand:honor")]),
        ("The compound was tested in vivo.", []),
        ("vivo overtook Samsung as India's largest smartphone seller.", [("vivo", "brand:vivo")]),
        ("Li said the deal would be signed next week.", []),
        ("Li Auto cut its delivery forecast.", [("Li Auto", "brand:liauto")]),
        ("Didi, a young footballer, scored twice.", []),
        # Chang'an the old name of Xi'an vs Changan the carmaker
        ("Chang'an was the capital of the Tang dynasty.", [("Chang'an", "city:xian")]),
        ("Changan Automobile will make electric cars in Thailand.", [("Changan Automobile", "brand:changan")]),
        ("Changan said its new SUV would go on sale in Britain.", [("Changan", "brand:changan")]),
        ("The parade moved along Chang'an Avenue.", []),
        # streets, dishes, institutions named after cities
        ("Crowds filled Nanjing Road, Shanghai's main shopping street.", [("Shanghai", "city:shanghai")]),
        ("The tech fair in Nanjing drew record crowds.", [("Nanjing", "city:nanjing")]),
        ("She studied at Peking University and loves Peking duck.", []),
        ("He enjoyed Lanzhou noodles in Melbourne.", []),
        (
            "The People's Bank of China cut rates while Bank of China opened a branch.",
            [("Bank of China", "brand:bankofchina")],
        ),
        ("WuXi AppTec moved staff out of Wuxi.", [("WuXi AppTec", "brand:wuxiapptec"), ("Wuxi", "city:wuxi")]),
        (
            "Shenzhen-based BYD and Huawei-backed Seres Group grew.",
            [
                ("Shenzhen", "city:shenzhen"),
                ("BYD", "brand:byd"),
                ("Huawei", "brand:huawei"),
                ("Seres Group", "brand:seres"),
            ],
        ),
    ],
)
def test_disambiguation(finder, text, expected):
    assert tags(finder, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "New York, Tokyo, London and Paris reported record tourism.",
        "Amazon, Panasonic, LinkedIn, Samsung and Sony reported results.",
        "Police in Canton, Ohio, arrested two men.",
        "Anyang, South Korea, is a satellite city of Seoul.",
        "JD Vance spoke in Munich; JD Sports shares fell.",
        "The BOE raised interest rates again.",
        "The game studio Gree in Tokyo released a new title.",
        "The Vivo Energy service station was closed.",
        "China's economy grew 4.8% and Chinese exports rose.",
        "Sian Williams presented the news in Cardiff.",
    ],
)
def test_foreign_places_and_companies_are_never_tagged(finder, text):
    assert tags(finder, text) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "在英国，比亚迪的销量超过特斯拉，成都和重庆的游客增加。",
            [("比亚迪", "brand:byd"), ("成都", "city:chengdu"), ("重庆", "city:chongqing")],
        ),
        ("江西安全生产委员会召开会议。", []),  # 西安 sits inside 江西安全 but is not Xi'an
        ("游客在南京路购物，长安街挂满国旗。", []),
        ("小米发布新款手机。", [("小米", "brand:xiaomi")]),
        ("早餐时她喝了一碗小米粥。", []),
        ("北京时间昨晚，蔚来公布季度亏损。", [("蔚来", "brand:nio")]),
        ("香港特区政府公布了新的施政报告。", [("香港特区", "city:hongkong")]),
        ("長沙的夜生活吸引了大量年輕遊客。", [("長沙", "city:changsha")]),
    ],
)
def test_chinese_text(finder, text, expected):
    assert tags(finder, text) == expected


def test_chinese_names_inside_english_text_with_offsets(finder):
    text = "The trade fair in 成都 drew BYD (比亚迪) executives; 深セン-based ＤＪＩ came too."
    found = finder.find(text)
    assert [(m.text, m.entity_id) for m in found] == [
        ("成都", "city:chengdu"),
        ("BYD", "brand:byd"),
        ("比亚迪", "brand:byd"),
        ("深セン", "city:shenzhen"),
        ("ＤＪＩ", "brand:dji"),
    ]
    for m in found:
        assert text[m.start : m.end] == m.text


def test_mention_sentence_and_government_sense(finder):
    text = (
        "Trade talks resumed on Monday. Beijing said it would retaliate against the new tariffs. "
        "Air pollution in Beijing hit hazardous levels."
    )
    a, b = finder.find(text)
    assert a.sentence == "Beijing said it would retaliate against the new tariffs." and a.sense == "government"
    assert b.sentence == "Air pollution in Beijing hit hazardous levels." and b.sense is None


def test_users_extend_the_catalogue_with_yaml(tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text(
        "cities:\n  - {id: city:xiongan, name: Xiong'an, aliases: [{text: \"Xiong'an\"}, {text: 雄安}]}\n"
        "brands:\n  - {id: brand:byd, aliases: [Build Your Dreams Ltd]}\n"
        "  - {id: brand:acme, name: Acme Tea, aliases: [Acme Tea], zh: [顶好茶], sector: food & beverage}\n"
    )
    finder = MentionFinder(load_catalogue([extra]))
    assert tags(finder, "Xiong'an (雄安) hosts Acme Tea; Build Your Dreams Ltd and BYD too.") == [
        ("Xiong'an", "city:xiongan"),
        ("雄安", "city:xiongan"),
        ("Acme Tea", "brand:acme"),
        ("Build Your Dreams Ltd", "brand:byd"),
        ("BYD", "brand:byd"),
    ]


def test_bad_user_catalogue_names_the_file(tmp_path):
    from nlp.entities.catalogue import CatalogueError

    bad = tmp_path / "bad.yaml"
    bad.write_text("brands:\n  - {name: no id}\n")
    with pytest.raises(CatalogueError, match="bad.yaml"):
        load_catalogue([bad])


def test_companies_the_text_calls_chinese_are_tagged_even_when_no_catalogue_lists_them(catalogue):
    from nlp.tagger import Tagger

    tagger = Tagger(catalogue, sentiment=False)
    t = tagger.tag(
        "Chinese carmaker Dayun Auto will list in New York. Dayun Auto sold 2,000 cars. "
        "Regulators fined Changzhou Shenrong Metal Technology, and Changzhou officials said BYD was not involved."
    )
    assert [(m.text, m.entity_id) for m in t.mentions] == [
        ("Dayun Auto", "brand:unlisted:dayun-auto"),
        ("Dayun Auto", "brand:unlisted:dayun-auto"),
        ("Changzhou Shenrong Metal Technology", "brand:unlisted:changzhou-shenrong-metal-technology"),
        ("Changzhou", "city:changzhou"),
        ("BYD", "brand:byd"),
    ]
    assert [(m.text, m.sense) for m in t.in_names] == [("Changzhou", "in-name:company")]
    assert tagger.tag("Chinese carmaker BYD said so.").mentions[0].entity_id == "brand:byd"  # catalogued wins
    # a sentence adverb before ", the Chinese brand" is not a company
    assert tagger.tag("Initially, the Chinese brand had planned to hire 300 people.").mentions == []
