"""The course's lessons: one package per notebook topic, with that notebook's experiments, widget
panels and exercise checkers. Lessons import the library (helpers.*), never the other way round; a
lesson that uses another lesson's code names it in its docstring.

    toy        00 the toy problem          fomaml     04 first-order MAML
    transfer   01 transfer learning        imaml      05 iMAML, 06 iMAML in depth
    multitask  02 multi-task learning      beyond     07 beyond iMAML
    maml       03 MAML                     takeaways  08 the takeaways

pretrain (a module): the catalogue of every shipped model, `python -m helpers.lessons.pretrain`.
"""
