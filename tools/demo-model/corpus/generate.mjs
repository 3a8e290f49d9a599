#!/usr/bin/env node
// Synthetic children's-stories corpus for the bitexit demo model.
//
//   node tools/demo-model/corpus/generate.mjs --seed 1 --out DIR --mb 24 [--heldout-mb 1]
//
// Writes DIR/train.txt (about --mb megabytes) and DIR/heldout.txt (about --heldout-mb megabytes).
// Stories are separated by one blank line. Both files come from one seeded PRNG stream: stories
// are drawn in order and every 25th story (until the held-out file is full) goes to heldout.txt,
// the rest to train.txt; identical story texts are never put in both files.
// No dependencies, deterministic for a given seed (same Node major → same bytes).

import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as W from './words.mjs';

// ---------- seeded PRNG (sfc32 seeded through splitmix32) ----------
function makeRng(seed) {
  let s = seed >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split(), b = split(), c = split(), d = split();
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

let rnd = makeRng(1);
const int = (n) => Math.floor(rnd() * n);
const pick = (arr) => arr[int(arr.length)];
const chance = (p) => rnd() < p;
/** pick one alternative; functions are called lazily so only the chosen branch consumes randomness */
const one = (...alts) => {
  const x = alts[int(alts.length)];
  return typeof x === 'function' ? x() : x;
};

// ---------- grammar helpers ----------
const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
const AN_EXCEPT = /^(uni|use|usu|one|eu|ur)/i; // "a unicorn", "a useful", "a one-eyed"
const AN_SILENT_H = /^(hour|honest|honor)/i;
function art(np) {
  const w = np.toLowerCase();
  if (AN_SILENT_H.test(w)) return `an ${np}`;
  if (/^[aeiou]/.test(w) && !AN_EXCEPT.test(w)) return `an ${np}`;
  return `a ${np}`;
}
const PRON = {
  he: { he: 'he', him: 'him', his: 'his', self: 'himself', was: 'was', is: 'is', has: 'has', does: 'does' },
  she: { he: 'she', him: 'her', his: 'her', self: 'herself', was: 'was', is: 'is', has: 'has', does: 'does' },
  they: { he: 'they', him: 'them', his: 'their', self: 'themselves', was: 'were', is: 'are', has: 'have', does: 'do' },
  it: { he: 'it', him: 'it', his: 'its', self: 'itself', was: 'was', is: 'is', has: 'has', does: 'does' },
};

function makeCharacter(used) {
  const roll = rnd();
  let kind, gender, name;
  if (roll < 0.35) {
    gender = chance(0.5) ? 'she' : 'he';
    kind = pick(gender === 'she' ? W.PEOPLE_KINDS_GIRL : W.PEOPLE_KINDS_BOY);
  } else if (roll < 0.9) {
    kind = pick(W.ANIMALS);
    gender = chance(0.12) ? 'they' : chance(0.5) ? 'she' : 'he';
  } else {
    kind = pick(W.OTHER_KINDS);
    gender = chance(0.5) ? 'they' : chance(0.5) ? 'she' : 'he';
  }
  for (let tries = 0; tries < 20; tries++) {
    const list = gender === 'she' ? W.GIRL_NAMES : gender === 'he' ? W.BOY_NAMES : W.NEUTRAL_NAMES;
    name = chance(0.15) ? pick(W.NEUTRAL_NAMES) : pick(list);
    if (!used.has(name)) break;
  }
  used.add(name);
  const trait = pick(W.TRAITS);
  return { name, kind, p: PRON[gender], trait: trait[0], traitDesc: trait[1], flaw: trait[2] };
}

const the = (c) => `the ${c.kind}`;
const ref = (c) => (chance(0.75) ? c.name : the(c));

// Dialogue: several placements of the speech tag.
const SAY_VERBS = ['said', 'said', 'said', 'replied', 'whispered', 'shouted', 'cried', 'called', 'answered', 'exclaimed'];
const ASK_VERBS = ['asked', 'asked', 'wondered', 'called'];
function say(c, line, verb) {
  const question = line.endsWith('?');
  const v = verb ?? pick(question ? ASK_VERBS : SAY_VERBS);
  const who = c.name;
  const body = line.replace(/[.!?]$/, '');
  const end = line.slice(-1);
  const r = rnd();
  if (r < 0.45) return `"${body}${question ? '?' : end === '!' ? '!' : ','}" ${v} ${who}.`;
  if (r < 0.75) return `${who} ${v}, "${line}"`;
  if (r < 0.88) return `"${body}${question ? '?' : end === '!' ? '!' : ','}" ${who} ${v}.`;
  return `${who} looked at ${pick(['the sky', 'the ground', 'the others', 'everyone', 'the trees'])} and ${v}, "${line}"`;
}

function opening(c, place) {
  const [pname, prep] = place;
  const weather = pick(W.WEATHER);
  const time = pick(W.TIMES);
  return one(
    () => `Once upon a time, there was ${art(c.trait)} ${c.kind} named ${c.name}. ${cap(c.p.he)} lived ${prep} ${pname}.`,
    () => `Once upon a time, ${prep} ${pname}, there lived ${art(c.kind)} called ${c.name}.`,
    () => `One ${weather} ${time}, ${art(c.kind)} named ${c.name} was ${pick(W.ACTIVITIES)[2]} ${prep} ${pname}.`,
    () => `There once was ${art(c.trait)} little ${c.kind}. ${cap(c.p.his)} name was ${c.name}.`,
    () => `${c.name} was ${art(c.trait)} ${c.kind} who lived ${prep} ${pname}.`,
    () => `Long ago, ${prep} ${pname}, lived ${art(c.kind)} named ${c.name}. ${c.name} was very ${c.trait}.`,
    () => `It was ${art(weather)} ${time} ${prep} ${pname}. ${c.name} the ${c.kind} woke up early.`,
    () => `Once there was ${art(c.kind)} named ${c.name}. ${cap(c.p.he)} ${c.p.was} ${c.trait} and ${c.traitDesc}.`,
    () => `In ${pick(W.SEASONS)}, ${prep} ${pname}, ${art(c.trait)} ${c.kind} named ${c.name} ${pick(W.ACTIVITIES)[0]} every day.`,
  );
}

function describe(c, place) {
  const thing = pick(place[2]);
  return one(
    () => `${c.name} ${c.traitDesc}.`,
    () => `Everyone knew that ${c.name} ${c.traitDesc}.`,
    () => `${cap(c.p.he)} loved to ${pick(W.ACTIVITIES)[1]} near ${thing}.`,
    () => `Every day, ${c.p.he} liked to ${pick(W.ACTIVITIES)[1]}.`,
    () => `${cap(c.p.his)} favorite thing was ${pick(W.ACTIVITIES)[2]}.`,
    () => `${cap(c.p.he)} ${c.p.was} ${c.trait}, and ${c.p.he} ${c.traitDesc}.`,
    () => `${prepCap(place)} there ${isPlural(thing) ? 'were' : 'was'} ${thing}, and ${c.name} loved it there.`,
  );
}
const isPlural = (np) => /s$/.test(np) && !/^(a|an) /.test(np) && !/(grass|moss|glass)$/.test(np);
const prepCap = (place) => cap(`${place[1]} ${place[0]}`);

function meet(a, b, place) {
  return one(
    () => `One day, ${a.name} met ${art(b.kind)} named ${b.name}.`,
    () => `Soon ${a.name} saw ${b.name} the ${b.kind} sitting near ${pick(place[2])}.`,
    () => `${a.name} had a friend, ${art(b.trait)} ${b.kind} called ${b.name}.`,
    () => `While walking ${place[1]} ${place[0]}, ${a.name} bumped into ${b.name} the ${b.kind}.`,
    () => `${a.name}'s best friend was ${b.name}, ${art(b.trait)} ${b.kind}.`,
  );
}

function obj() {
  const noun = pick(W.OBJECTS);
  const adj = chance(0.7) ? pick(W.OBJECT_ADJS) : null;
  return { noun, np: adj ? `${adj} ${noun}` : noun };
}

function ending(moral) {
  const m = pick(W.MORALS[moral]);
  return one(
    () => `The moral of the story is: ${m}`,
    () => `And so they learned that day: ${m.charAt(0).toLowerCase() + m.slice(1)}`,
    () => m,
    () => `From that day on, they always remembered: ${m.charAt(0).toLowerCase() + m.slice(1)}`,
    () => `The end.`,
    () => `${m} The end.`,
  );
}

function feelingGood() { return pick(W.FEELINGS_GOOD); }
function feelingBad() { return pick(W.FEELINGS_BAD); }

// ---------- plot shapes ----------
function plotLost() {
  const used = new Set();
  const a = makeCharacter(used), b = makeCharacter(used);
  const place = pick(W.PLACES), place2 = pick(W.PLACES);
  const o = obj();
  const giver = pick(W.PARENTS)[0];
  const hide = pick(['under a big leaf', 'behind a rock', 'in a bush', 'under the bench', 'next to a tree',
    'in a hole in the ground', 'under a pile of leaves', 'in the tall grass', 'inside an old box', 'on a high branch']);
  const s = [];
  s.push(opening(a, place));
  s.push(one(
    () => `${cap(a.p.he)} had ${art(o.np)} that ${a.p.his} ${giver} gave ${a.p.him}.`,
    () => `${a.name} had a special ${o.noun}. It was ${o.np === o.noun ? 'very old' : o.np.split(' ')[0]}, and ${a.p.he} loved it very much.`,
    () => `${a.name} loved ${a.p.his} ${o.np} more than anything.`,
  ));
  s.push(one(
    () => `One day, ${a.name} went to ${place2[0]} to ${pick(W.ACTIVITIES)[1]}.`,
    () => `One ${pick(W.WEATHER)} day, ${a.p.he} took the ${o.noun} to ${place2[0]}.`,
  ));
  s.push(one(
    () => `When ${a.p.he} got home, the ${o.noun} was gone!`,
    () => `But when ${a.p.he} looked in ${a.p.his} bag, the ${o.noun} was not there.`,
    () => `Suddenly, ${a.name} saw that ${a.p.his} ${o.noun} was missing.`,
  ));
  s.push(one(
    () => `${a.name} felt very ${feelingBad()}. ${cap(a.p.he)} started to cry.`,
    () => `${a.name} was so ${feelingBad()} that ${a.p.he} sat down and cried.`,
    () => say(a, `Oh no! Where is my ${o.noun}?`),
  ));
  s.push(meet(a, b, place2));
  s.push(say(b, one(`Why are you sad, ${a.name}?`, `What is wrong?`, `Can I help you?`)));
  s.push(say(a, one(`I lost my ${o.noun}.`, `My ${o.noun} is gone, and I cannot find it.`, `I cannot find my ${o.np}.`)));
  s.push(say(b, one(`Do not worry. I will help you look for it.`, `Let us look for it together!`, `I am good at finding things. Let me help.`)));
  s.push(one(
    () => `They looked ${place2[1]} ${place2[0]}. They looked near ${pick(place2[2])}. They looked everywhere.`,
    () => `So ${a.name} and ${b.name} searched high and low.`,
    () => `The two friends looked and looked, but the ${o.noun} was nowhere to be found.`,
  ));
  s.push(one(
    () => `At last, ${b.name} found the ${o.noun} ${hide}!`,
    () => `Then ${b.name} saw something ${hide}. It was the ${o.noun}!`,
    () => `Just when they were about to give up, ${a.name} spotted the ${o.noun} ${hide}.`,
  ));
  s.push(one(
    () => `${a.name} was so ${feelingGood()}. ${cap(a.p.he)} hugged ${b.name}.`,
    () => say(a, one(`Thank you, ${b.name}! You are a good friend.`, `Thank you so much!`, `You found it! Thank you!`)),
  ));
  if (chance(0.6)) s.push(one(
    () => `After that, ${a.name} and ${b.name} played together every day.`,
    () => `From then on, ${a.name} always kept the ${o.noun} in a safe place.`,
    () => `They went home together, smiling all the way.`,
  ));
  s.push(ending('friendship'));
  return s;
}

function plotShare() {
  const used = new Set();
  const a = makeCharacter(used), b = makeCharacter(used);
  const place = pick(W.PLACES);
  const food = pick(W.FOODS);
  const n = pick(['five', 'six', 'seven', 'eight', 'ten', 'twelve', 'many', 'lots of']);
  const s = [];
  s.push(opening(a, place));
  if (chance(0.5)) s.push(describe(a, place));
  s.push(one(
    () => `One day, ${a.name} found ${n} ${food}.`,
    () => `${a.name}'s ${pick(W.PARENTS)[0]} gave ${a.p.him} ${n} ${food}.`,
    () => `${a.name} had a big basket full of ${food}.`,
  ));
  s.push(`${b.name} the ${b.kind} ${one('came by', 'walked over', 'saw the ' + food)}. ${cap(b.p.he)} ${b.p.was} very hungry.`);
  s.push(say(b, one(`Can I have some ${food}, please?`, `Will you share your ${food} with me?`, `Those ${food} look so good. May I have one?`)));
  const greedy = a.flaw || chance(0.5);
  if (greedy) {
    s.push(say(a, one(`No! They are all mine.`, `No, I want them all for myself.`, `Go away. These are my ${food}.`)));
    s.push(one(
      () => `${b.name} walked away, feeling ${feelingBad()}.`,
      () => `${b.name} looked down and went home. ${cap(b.p.he)} ${b.p.was} very ${feelingBad()}.`,
    ));
    s.push(one(
      () => `${a.name} ate the ${food} alone, but ${a.p.he} did not feel happy.`,
      () => `Later, ${a.name} sat alone with all the ${food}. It was not fun to eat alone.`,
      () => `${a.name} ate so many ${food} that ${a.p.his} tummy hurt, and there was no one to play with.`,
    ));
    s.push(one(
      () => `${cap(a.p.he)} thought about ${b.name}. "I was not kind," ${a.p.he} said to ${a.p.self}.`,
      () => `Then ${a.name} remembered ${b.name}'s sad face and felt sorry.`,
    ));
    s.push(`${a.name} took the rest of the ${food} and ran to find ${b.name}.`);
    s.push(say(a, one(`I am sorry, ${b.name}. Please share my ${food} with me.`, `I was wrong. Let us eat them together!`)));
    s.push(one(
      () => `${b.name} smiled. They ate the ${food} together and laughed.`,
      () => `${b.name} was ${feelingGood()}. The two of them sat ${place[1]} ${place[0]} and shared the ${food}.`,
    ));
  } else {
    s.push(say(a, one(`Of course! Take as many as you like.`, `Yes! Let us share them.`, `Sure! There are enough for both of us.`)));
    s.push(one(
      () => `${b.name} was very ${feelingGood()}. They ate the ${food} together ${place[1]} ${place[0]}.`,
      () => `They sat down and shared the ${food}. ${b.name} said thank you again and again.`,
    ));
    s.push(one(
      () => `The next day, ${b.name} came back with ${art(obj().np)} for ${a.name}.`,
      () => `Later, ${b.name} shared ${b.p.his} ${pick(W.FOODS)} with ${a.name} too.`,
      () => `Soon more friends came, and everyone shared what they had.`,
    ));
  }
  s.push(ending('sharing'));
  return s;
}

function plotFear() {
  const used = new Set();
  const a = makeCharacter(used), b = makeCharacter(used);
  const place = pick(W.PLACES);
  const fear = pick(W.FEARS);
  const helper = chance(0.5) ? null : pick(W.PARENTS);
  const s = [];
  s.push(opening(a, place));
  s.push(one(
    () => `${a.name} was afraid of ${fear}.`,
    () => `But ${a.name} had a secret. ${cap(a.p.he)} ${a.p.was} scared of ${fear}.`,
    () => `There was one thing ${a.name} did not like: ${fear}.`,
  ));
  s.push(one(
    () => `Whenever ${a.p.he} thought about ${fear}, ${a.p.his} knees shook.`,
    () => `${cap(a.p.he)} always hid when anyone talked about ${fear}.`,
    () => `It made ${a.p.him} feel small and ${feelingBad()}.`,
  ));
  s.push(one(
    () => `One day, ${a.p.his} friend ${b.name} needed help, and the only way was through ${fear}.`,
    () => `One ${pick(W.TIMES)}, ${a.name} had to face ${fear}.`,
    () => `Then came a day when ${a.name} could not hide from ${fear} any longer.`,
  ));
  s.push(say(a, one(`I cannot do it. I am too scared.`, `What if something bad happens?`, `I am afraid!`)));
  if (helper) {
    s.push(one(
      () => `${cap(a.p.his)} ${helper[0]} held ${a.p.his} hand.`,
      () => `${cap(a.p.his)} ${helper[0]} knelt down next to ${a.p.him}.`,
    ));
    s.push(`"${one('It is okay to be scared', 'Take a deep breath', 'I believe in you')}," ${helper[1]} said. "${one('You are braver than you think.', 'I will be right here.', 'Just try one small step.')}"`);
  } else {
    s.push(say(b, one(`You can do it, ${a.name}! I believe in you.`, `Let us do it together.`, `Take a deep breath. I am right here.`)));
  }
  s.push(one(
    () => `${a.name} took a deep breath. ${cap(a.p.he)} took one small step, and then another.`,
    () => `${a.name} closed ${a.p.his} eyes and counted to three. Then ${a.p.he} went forward.`,
    () => `Slowly, ${a.name} walked on. ${cap(a.p.his)} heart was beating fast.`,
  ));
  s.push(one(
    () => `It was not as scary as ${a.p.he} thought!`,
    () => `Soon ${a.name} was on the other side, and nothing bad had happened.`,
    () => `To ${a.p.his} surprise, ${fear} was not so bad after all.`,
  ));
  s.push(one(
    () => `${a.name} felt very ${feelingGood()}.`,
    () => say(a, one(`I did it! I was brave!`, `That was not so scary!`, `I am not afraid anymore!`)),
  ));
  if (chance(0.5)) s.push(`From that day on, ${a.name} was never afraid of ${fear} again.`);
  s.push(ending('courage'));
  return s;
}

function plotHonesty() {
  const used = new Set();
  const a = makeCharacter(used), b = makeCharacter(used);
  const place = pick(W.PLACES);
  const o = obj();
  const broke = pick(['broke', 'cracked', 'lost', 'tore', 'spilled juice on', 'dropped']);
  const s = [];
  s.push(opening(a, place));
  s.push(meet(a, b, place));
  s.push(one(
    () => `${b.name} had ${art(o.np)}. It was ${b.p.his} favorite thing in the world.`,
    () => `${b.name} showed ${a.name} ${b.p.his} new ${o.noun}.`,
  ));
  s.push(say(a, one(`Can I play with your ${o.noun}?`, `Can I hold it, please?`)));
  s.push(say(b, one(`Yes, but please be careful.`, `Okay, but do not lose it.`), 'said'));
  s.push(one(
    () => `But ${a.name} was not careful. ${cap(a.p.he)} ${broke} the ${o.noun} by accident.`,
    () => `Oops! ${a.name} ${broke} the ${o.noun}.`,
    () => `While ${b.name} was away, ${a.name} ${broke} the ${o.noun}.`,
  ));
  s.push(one(
    () => `${a.name} was scared. ${cap(a.p.he)} hid the ${o.noun} ${pick(['under the bed', 'behind a tree', 'in a box', 'under a blanket'])}.`,
    () => `${a.name} did not want to get in trouble, so ${a.p.he} said nothing.`,
  ));
  s.push(say(b, one(`Where is my ${o.noun}?`, `Have you seen my ${o.noun}?`)));
  const lied = chance(0.6);
  if (lied) {
    s.push(say(a, one(`I do not know.`, `I have not seen it.`)));
    s.push(one(
      () => `${b.name} looked everywhere and became very ${feelingBad()}.`,
      () => `${b.name} was so sad. ${a.name} felt a heavy feeling in ${a.p.his} tummy.`,
    ));
    s.push(`${a.name} could not stand it any longer.`);
  }
  s.push(say(a, one(`I am sorry, ${b.name}. I ${broke} your ${o.noun}. It was an accident.`,
    `It was me. I ${broke} it. I am very sorry.`)));
  s.push(one(
    () => `${b.name} was quiet for a moment. Then ${b.p.he} smiled.`,
    () => `${b.name} looked at ${a.name}, then gave ${a.p.him} a hug.`,
  ));
  s.push(say(b, one(`Thank you for telling me the truth.`, `It is okay. I am glad you told me.`, `We can fix it together.`), 'said'));
  s.push(one(
    () => `Together they ${o.noun.length % 2 ? 'fixed' : 'mended'} the ${o.noun} with some glue and tape.`,
    () => `They stayed best friends, and ${a.name} felt light and ${feelingGood()} again.`,
    () => `${a.name} promised to always be careful with other people's things.`,
  ));
  s.push(ending('honesty'));
  return s;
}

function plotPersist() {
  const used = new Set();
  const a = makeCharacter(used), b = makeCharacter(used);
  const place = pick(W.PLACES);
  const g = pick(W.GOALS);
  const s = [];
  s.push(opening(a, place));
  if (chance(0.5)) s.push(describe(a, place));
  s.push(one(
    () => `${a.name} wanted to ${g[0]} more than anything.`,
    () => `${cap(a.p.he)} had a dream. ${cap(a.p.he)} wanted to ${g[0]}.`,
    () => `Every day, ${a.name} watched the others and wished ${a.p.he} could ${g[0]} too.`,
  ));
  s.push(`The first time ${a.name} tried, ${a.p.he} ${g[2]}.`);
  s.push(one(
    () => `${a.name} tried again the next day, but it did not work.`,
    () => `${cap(a.p.he)} tried a second time and a third time, but it was too hard.`,
    () => `${cap(a.p.he)} tried again and again, and each time something went wrong.`,
  ));
  s.push(say(a, one(`I will never be able to ${g[0]}.`, `It is too hard. I give up.`, `Why can I not do it?`)));
  s.push(one(
    () => `${b.name} the ${b.kind} heard ${a.p.him}.`,
    () => `Just then, ${b.name} came by.`,
    () => `${a.name}'s ${pick(W.PARENTS)[0]} sat down beside ${a.p.him}.`,
  ));
  s.push(`"${one('Do not give up', 'Keep trying', 'Everyone makes mistakes when they learn')}," ${one(`${b.name} said`, 'came the reply', 'was the answer')}. "${one('Try a little bit every day.', 'You are getting better each time.', 'I could not do it at first either.')}"`);
  s.push(one(
    () => `So ${a.name} practiced every day. Some days were hard, but ${a.p.he} did not stop.`,
    () => `${a.name} kept trying. ${cap(a.p.he)} got a little better each time.`,
    () => `Day after day, ${a.name} tried again, even when ${a.p.he} ${a.p.was} tired.`,
  ));
  s.push(one(
    () => `Then one ${pick(W.WEATHER)} ${pick(W.TIMES)}, ${a.name} ${g[1]}!`,
    () => `At last, ${a.p.he} ${g[1]}!`,
    () => `Finally, after many tries, ${a.name} ${g[1]}.`,
  ));
  s.push(one(
    () => `Everyone cheered. ${a.name} felt very ${feelingGood()}.`,
    () => say(a, one(`I did it! I really did it!`, `Look! I can do it now!`)),
    () => `${b.name} clapped and ${a.name} laughed with joy.`,
  ));
  s.push(ending('persistence'));
  return s;
}

function plotKindness() {
  const used = new Set();
  const a = makeCharacter(used);
  const place = pick(W.PLACES), place2 = pick(W.PLACES);
  const t = pick(W.TROUBLES);
  const who = t[0].replace(/^(a|an) /, '');
  const s = [];
  s.push(opening(a, place));
  if (chance(0.5)) s.push(describe(a, place));
  s.push(one(
    () => `One day, ${a.name} was walking to ${place2[0]}.`,
    () => `One ${pick(W.WEATHER)} ${pick(W.TIMES)}, ${a.name} went out to ${pick(W.ACTIVITIES)[1]}.`,
    () => `On the way home, ${a.name} heard a small sound.`,
  ));
  s.push(`${a.name} saw ${t[0]}. The ${who} ${t[1]}.`);
  s.push(one(
    () => say(a, `Oh no! I have to help.`),
    () => `${a.name} was in a hurry, but ${a.p.he} stopped.`,
    () => say(a, one(`Do not worry, I will help you.`, `Are you okay?`, `Hold on, I am coming!`)),
  ));
  s.push(`${cap(a.p.he)} ${t[2]}.`);
  s.push(one(
    () => `The ${who} was very thankful.`,
    () => `"Thank you, thank you!" said the ${who}.`,
    () => `The ${who} smiled at ${a.name}.`,
  ));
  if (chance(0.6)) {
    s.push(one(
      () => `A few days later, ${a.name} had a problem. ${cap(a.p.he)} could not find the way home.`,
      () => `Later that week, ${a.name}'s ${obj().noun} fell into a deep hole.`,
      () => `The next day, ${a.name} got stuck in the rain without an umbrella.`,
    ));
    s.push(one(
      () => `Then the ${who} came back with some friends, and they helped ${a.name}.`,
      () => `Who came to help? It was the ${who}!`,
      () => `The ${who} remembered ${a.name}'s kindness and came to help right away.`,
    ));
  } else {
    s.push(`${a.name} went home feeling warm and ${feelingGood()} inside.`);
  }
  s.push(ending('kindness'));
  return s;
}

function plotWarning() {
  const used = new Set();
  const a = makeCharacter(used);
  const place = pick(W.PLACES);
  const [parent, pp] = pick(W.PARENTS);
  const d = pick(W.DANGERS);
  const s = [];
  s.push(opening(a, place));
  s.push(`One day, ${a.name}'s ${parent} said, "${one(`Please do not ${d[0]}.`, `Remember, never ${d[0]}.`, `You must not ${d[0]}. It is not safe.`)}"`);
  s.push(say(a, one('Okay.', 'I promise.', 'Yes, I know.', 'I will not.'), 'said'));
  s.push(one(
    () => `But ${a.name} was ${a.flaw ? a.trait : 'curious'}. When ${pp} was not looking, ${a.p.he} decided to ${d[0]}.`,
    () => `But later, ${a.name} forgot what ${pp} said and went to ${d[0]}.`,
    () => `But ${a.name} thought, "Just this once." So ${a.p.he} went to ${d[0]}.`,
  ));
  s.push(`Oh no! ${a.name} ${d[1]}.`);
  s.push(one(
    () => `${a.name} began to cry. ${cap(a.p.he)} ${a.p.was} very ${feelingBad()}.`,
    () => say(a, one(`Help! Help!`, `I should have listened!`, `Oh no, what have I done?`)),
  ));
  s.push(one(
    () => `${cap(a.p.his)} ${parent} came running and helped ${a.p.him}.`,
    () => `Soon ${a.p.his} ${parent} found ${a.p.him} and took ${a.p.him} home.`,
  ));
  s.push(say(a, one(`I am sorry. I did not listen.`, `I am sorry. Next time I will listen to you.`)));
  s.push(`${cap(pp)} gave ${a.name} a big hug. "${one('I am glad you are safe', 'It is okay', 'We all make mistakes')}," ${pp} said. "${one('Now you know why I said that.', 'Rules keep you safe.', 'I love you.')}"`);
  s.push(ending('listening'));
  return s;
}

function plotFriend() {
  const used = new Set();
  const a = makeCharacter(used), b = makeCharacter(used);
  const place = pick(W.PLACES);
  const act = pick(W.ACTIVITIES);
  const s = [];
  s.push(one(
    () => `${a.name} the ${a.kind} had just moved to ${place[0]}. ${cap(a.p.he)} did not know anyone.`,
    () => opening(a, place) + ` But ${a.p.he} had no friends to play with.`,
  ));
  s.push(one(
    () => `Every day, ${a.name} sat alone and felt ${feelingBad()}.`,
    () => `${cap(a.p.he)} watched the others ${act[1]}, but ${a.p.he} ${a.p.was} too shy to join.`,
  ));
  s.push(one(
    () => `One day, ${b.name} the ${b.kind} walked up to ${a.p.him}.`,
    () => `Then ${art(b.trait)} ${b.kind} named ${b.name} came over.`,
  ));
  s.push(say(b, one(`Hello! What is your name?`, `Hi! Do you want to ${act[1]} with me?`, `Why are you sitting all alone?`)));
  s.push(say(a, one(`My name is ${a.name}.`, `I am new here.`, `I would like that very much.`)));
  s.push(one(
    () => `So ${a.name} and ${b.name} ${act[0]} together.`,
    () => `They spent the whole ${pick(W.TIMES)} ${act[2]}.`,
  ));
  s.push(one(
    () => `${a.name} found out that ${b.name} ${b.traitDesc}.`,
    () => `They laughed and talked until the sun went down.`,
    () => `${a.name} felt ${feelingGood()} for the first time in a long time.`,
  ));
  s.push(one(
    () => `When it was time to go home, ${b.name} said, "See you tomorrow, friend!"`,
    () => `From that day on, ${a.name} and ${b.name} were best friends.`,
  ));
  s.push(ending('friendship'));
  return s;
}

function plotRace() {
  const used = new Set();
  const a = makeCharacter(used), b = makeCharacter(used);
  const place = pick(W.PLACES);
  const goal = pick(['the big tree', 'the old bridge', 'the red barn', 'the top of the hill', 'the river', 'the gate', 'the big rock']);
  const s = [];
  s.push(`${b.name} the ${b.kind} was very fast, and ${b.p.he} liked to say so.`);
  s.push(`${a.name} the ${a.kind} was slow, but ${a.p.he} never gave up.`);
  s.push(say(b, one(`I am the fastest in ${place[0]}! Nobody can beat me.`, `Let us have a race, ${a.name}. I will win for sure!`)));
  s.push(say(a, one(`Let us race to ${goal}.`, `Okay. Let us see who gets to ${goal} first.`), 'said'));
  s.push(`The race began. ${b.name} ran far ahead.`);
  s.push(one(
    () => `${b.name} was so far ahead that ${b.p.he} stopped to take a nap under a tree.`,
    () => `${b.name} stopped to eat some ${pick(W.FOODS)}. "I have lots of time," ${b.p.he} thought.`,
    () => `${b.name} stopped to show off to ${b.p.his} friends.`,
  ));
  s.push(one(
    () => `Meanwhile, ${a.name} kept going, step by step.`,
    () => `${a.name} did not stop. ${cap(a.p.he)} walked slowly and steadily.`,
  ));
  s.push(`When ${b.name} looked up, ${a.name} was almost at ${goal}!`);
  s.push(`${b.name} ran as fast as ${b.p.he} could, but it was too late. ${a.name} won the race.`);
  s.push(one(
    () => say(b, `You won, ${a.name}. I was too proud.`),
    () => `${b.name} was surprised. Then ${b.p.he} smiled and said, "Well done, ${a.name}."`,
  ));
  s.push(ending('patience'));
  return s;
}

function plotAdventure() {
  const used = new Set();
  const a = makeCharacter(used), b = makeCharacter(used);
  const place = pick(W.PLACES), far = pick(W.PLACES);
  const o = obj();
  const s = [];
  s.push(opening(a, place));
  s.push(one(
    () => `One day, ${a.name} found an old map. It showed the way to ${far[0]}.`,
    () => `${a.name} had always wanted to see ${far[0]}.`,
    () => `${a.name} heard a story about ${art(o.np)} hidden ${far[1]} ${far[0]}.`,
  ));
  s.push(say(a, one(`Let us go on an adventure!`, `I want to find out what is there.`, `Who will come with me?`)));
  s.push(`${b.name} the ${b.kind} ${one('wanted to come too', 'packed a bag of ' + pick(W.FOODS), 'said yes right away')}.`);
  s.push(one(
    () => `They walked past ${pick(place[2])} and over ${pick(['a little bridge', 'a tall hill', 'a muddy path', 'a field of flowers'])}.`,
    () => `The path was long. They crossed a stream and climbed a hill.`,
  ));
  s.push(one(
    () => `Then it began to rain. ${a.name} and ${b.name} hid under a big tree until the rain stopped.`,
    () => `Then they saw a wide river. There was no bridge. ${b.name} found a log, and they used it to cross.`,
    () => `Then they got lost. ${a.name} looked at the sun and found the right way.`,
  ));
  s.push(one(
    () => `At last they came to ${far[0]}. There ${isPlural(far[2][0]) ? 'were' : 'was'} ${far[2][0]}${chance(0.5) ? ` and ${far[2][1]}` : ''}.`,
    () => `Finally they reached ${far[0]}. It was more beautiful than they had dreamed.`,
  ));
  s.push(one(
    () => `${far[1] === 'in' ? 'Inside' : 'There'}, they found ${art(o.np)}!`,
    () => `They did not find treasure, but they found ${far[2][2]}, and that was even better.`,
  ));
  s.push(say(b, one(`This was the best day ever!`, `I am so glad we came together.`)));
  s.push(`When they got home, ${a.name} and ${b.name} were tired but ${feelingGood()}.`);
  s.push(ending('friendship'));
  return s;
}

function plotSurprise() {
  const used = new Set();
  const a = makeCharacter(used), b = makeCharacter(used);
  const place = pick(W.PLACES);
  const o = obj();
  const occasion = pick(['birthday', 'birthday', 'first day at the new house', 'last day before the holidays', 'big day at the show']);
  const mishap = pick([
    ['it started to rain, and the paper got all wet', 'dried it by the fire'],
    ['a puppy ran off with it', 'chased the puppy and got it back, only a little chewed'],
    [`${a.p.he} dropped it in the mud`, 'washed it in the stream'],
    ['the wind blew it away', 'ran after it across the field'],
    ['it broke into two pieces', 'glued the pieces back together'],
  ]);
  const s = [];
  s.push(opening(a, place));
  s.push(one(
    () => `Tomorrow was ${b.name}'s ${occasion}, and ${a.name} wanted to give ${b.p.him} something special.`,
    () => `${a.name}'s friend ${b.name} the ${b.kind} had a ${occasion} coming. ${a.name} decided to make a surprise.`,
  ));
  s.push(one(
    () => `${cap(a.p.he)} did not have money to buy a present, so ${a.p.he} decided to make ${art(o.np)}.`,
    () => `${a.name} thought and thought. Then ${a.p.he} had an idea: ${art(o.np)}!`,
  ));
  s.push(one(
    () => `${cap(a.p.he)} worked all ${pick(W.TIMES)} ${place[1]} ${place[0]}.`,
    () => `${a.name} used ${pick(['paper and glue', 'string and ribbons', 'paint and glitter', 'leaves and twigs', 'wool and buttons'])} to make it.`,
  ));
  s.push(`But then ${mishap[0]}.`);
  s.push(say(a, one(`Oh no! Now the surprise is ruined.`, `What will I do now?`, `It is not perfect anymore.`)));
  s.push(one(
    () => `${a.name} did not give up. ${cap(a.p.he)} ${mishap[1]}.`,
    () => `${a.name} took a deep breath and ${mishap[1]}.`,
  ));
  s.push(one(
    () => `The next day, ${a.name} gave the ${o.noun} to ${b.name}. "It is not perfect," ${a.p.he} said quietly.`,
    () => `When ${b.name} opened the surprise, ${a.name} held ${a.p.his} breath.`,
  ));
  s.push(say(b, one(`I love it! You made it just for me!`, `This is the best present I ever got.`, `It is perfect because you made it.`)));
  s.push(`${a.name} felt ${feelingGood()}, and ${b.name} kept the ${o.noun} ${pick(['by the bed', 'on a shelf', 'in a special box', 'close every day'])}.`);
  s.push(ending('thoughtfulness'));
  return s;
}

const PLOTS = [plotSurprise, plotLost, plotShare, plotFear, plotHonesty, plotPersist, plotKindness, plotWarning, plotFriend, plotRace, plotAdventure];

function story() {
  const sentences = pick(PLOTS)();
  // group sentences into 2-4 paragraphs on single newlines
  const paras = [];
  let cur = [];
  for (const sent of sentences) {
    cur.push(sent);
    if (cur.length >= 3 && chance(0.35)) { paras.push(cur.join(' ')); cur = []; }
  }
  if (cur.length) paras.push(cur.join(' '));
  return paras.join('\n');
}

// ---------- main ----------
function parseArgs(argv) {
  const o = { seed: 1, out: '.', mb: 24, heldoutMb: 1 };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i], v = argv[i + 1];
    if (k === '--seed') { o.seed = Number(v); i++; }
    else if (k === '--out') { o.out = v; i++; }
    else if (k === '--mb') { o.mb = Number(v); i++; }
    else if (k === '--heldout-mb') { o.heldoutMb = Number(v); i++; }
    else if (k === '--help' || k === '-h') {
      console.log('usage: node generate.mjs --seed N --out DIR --mb MB [--heldout-mb MB]');
      process.exit(0);
    } else { console.error(`unknown argument: ${k}`); process.exit(2); }
  }
  if (!Number.isInteger(o.seed) || o.seed < 0) { console.error('--seed must be a non-negative integer'); process.exit(2); }
  if (!(o.mb > 0) || !(o.heldoutMb >= 0)) { console.error('--mb must be > 0 and --heldout-mb >= 0'); process.exit(2); }
  return o;
}

export function generate({ seed, mb, heldoutMb }) {
  rnd = makeRng(seed);
  const trainTarget = mb * 1024 * 1024, heldTarget = heldoutMb * 1024 * 1024;
  const train = [], held = [];
  const heldSet = new Set();
  let trainBytes = 0, heldBytes = 0, i = 0, dupes = 0;
  const seen = new Set();
  while (trainBytes < trainTarget) {
    const st = story();
    i++;
    if (i % 25 === 0 && heldBytes < heldTarget) {
      if (seen.has(st)) { dupes++; continue; }
      held.push(st); heldSet.add(st); heldBytes += Buffer.byteLength(st) + 2;
    } else {
      if (heldSet.has(st)) { dupes++; continue; }
      if (seen.size < 2_000_000) seen.add(st);
      train.push(st); trainBytes += Buffer.byteLength(st) + 2;
    }
  }
  return { train, held, stories: i, dupes };
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('generate.mjs')) {
  const o = parseArgs(process.argv);
  const t0 = Date.now();
  const { train, held, stories, dupes } = generate(o);
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'train.txt'), train.join('\n\n') + '\n');
  writeFileSync(join(o.out, 'heldout.txt'), held.join('\n\n') + '\n');
  const uniq = new Set(train).size;
  console.log(`seed ${o.seed}: ${stories} stories drawn, train ${train.length} (${uniq} unique), heldout ${held.length}, skipped ${dupes} cross-split duplicates, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
