"""Synthetic content for the reload and search benchmarks (`qcbot bench scale`) and the test that such a folder
loads: a content folder of any size, shaped like the real one. Not shipped: nothing at run time writes content."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

from storage.content import (
    CATEGORIES_FILE,
    CONTACTS_FILE,
    ESTATES_FILE,
    FAQ_FILE,
    PROBLEMS_FILE,
    SERVICE_MODELS,
    SPACES_FOLDER,
    URGENCIES,
)

_SYNTHETIC_WORDS = {
    "it": "aiuto sportello laboratorio corso gruppo incontro riparazione lettura compiti cucito orto musica computer".split(),
    "en": "help desk workshop course group meeting repair reading homework sewing garden music computer".split(),
    "es": "ayuda taller curso grupo reunión reparación lectura deberes costura huerto música ordenador".split(),
    "ar": "مساعدة ورشة دورة مجموعة لقاء إصلاح قراءة واجبات خياطة حديقة موسيقى حاسوب".split(),
    "zh": "帮助 窗口 工作坊 课程 小组 聚会 修理 阅读 作业 缝纫 菜园 音乐 电脑".split(),
    "tl": "tulong kurso grupo pulong ayos pagbasa aralin tahi hardin musika kompyuter".split(),
    "fr": "aide atelier cours groupe réunion réparation lecture devoirs couture jardin musique ordinateur".split(),
}


def generate_large_content(directory: Path, spaces: int = 9, services_per_space: int = 200) -> None:
    """Write a valid synthetic content folder of the given size (for reload and search benchmarks).

    Services are shaped like the real ones in content/spaces: Italian and English texts, keywords in
    seven languages, a booking block on one service in four.
    """
    directory = Path(directory)
    (directory / SPACES_FOLDER).mkdir(parents=True, exist_ok=True)
    words = random.Random(20240601)  # fixed seed: the same folder every time
    category_ids = [f"category-{number}" for number in range(12)]
    space_ids = [f"space-{number}" for number in range(spaces)]

    def phrase(language: str, count: int) -> str:
        return " ".join(words.choice(_SYNTHETIC_WORDS[language]) for _ in range(count))

    def text(count: int) -> dict[str, str]:
        return {"it": phrase("it", count), "en": phrase("en", count)}

    def keywords() -> dict[str, list[str]]:
        return {language: [phrase(language, 1) for _ in range(3)] for language in _SYNTHETIC_WORDS}

    def dump(relative: str, data: Any) -> None:
        (directory / relative).write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")

    dump(CATEGORIES_FILE, {"categories": [{"id": identifier, "name": text(2)} for identifier in category_ids]})
    dump(CONTACTS_FILE, {"free_phone": "800 000 000", "emergency_phone": "800 000 001", "emergency_number": "112"})
    dump(FAQ_FILE, {"faq": [
        {"id": f"faq-{number}", "question": text(8), "answer": text(30), "keywords": keywords()} for number in range(40)
    ]})
    dump(PROBLEMS_FILE, {"problems": [
        {"id": f"problem-{number}", "name": text(2), "urgency": URGENCIES[number % 3],
         "questions": [{"id": "others", "text": text(6)}], "keywords": keywords()}
        for number in range(15)
    ]})
    dump(ESTATES_FILE, {"estates": [
        {"id": f"estate-{number}", "name": f"Estate {number}", "address": f"Via Synthetic {number}", "lat": 45.40 + number * 0.005,
         "lon": 9.10 + number * 0.005, "space": space_ids[number % spaces],
         "buildings": [{"id": str(building), "name": f"Civico {building}", "staircases": ["A", "B"]} for building in range(3)]}
        for number in range(spaces * 3)
    ]})
    for space_number, space_id in enumerate(space_ids):
        services = []
        for number in range(services_per_space):
            service: dict[str, Any] = {
                "id": f"{space_id}-service-{number}", "title": text(3), "description": text(14),
                "category": category_ids[number % len(category_ids)], "cost": {"it": "Gratuito", "en": "Free"},
                "when": {"it": "Martedì 10-12", "en": "Tuesdays 10-12"}, "keywords": keywords(),
            }
            if number % 3 == 0:
                service["audience"] = text(3)
            if number % 4 == 0:
                service["booking"] = {"schedule": [{"days": ["tue", "thu"], "start": "10:00", "end": "12:00", "slot_minutes": 30, "seats": 2}]}
            services.append(service)
        dump(f"{SPACES_FOLDER}/{space_id}.yaml", {
            "id": space_id, "name": {"it": f"Spazio {space_number}", "en": f"Space {space_number}"},
            "neighbourhood": f"Quartiere {space_number}", "municipio": space_number % 9 + 1,
            "address": f"Via Synthetic {space_number}", "lat": 45.45 + space_number * 0.01, "lon": 9.15 + space_number * 0.01,
            "model": SERVICE_MODELS[space_number % 3], "operator": "Synthetic Cooperative",
            "hours": {"mon": ["09:00-12:30", "14:00-18:00"], "wed": ["09:00-12:30"], "fri": ["14:00-18:00"]},
            "closures": [{"from": "2027-08-02", "to": "2027-08-22", "reason": "Ferie estive"}],
            "services": services,
        })
